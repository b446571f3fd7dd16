"""Training-free last blocks (MaskCLIP, SCLIP, ClearCLIP, NACLIP) against small examples computed in numpy from the
block's weights, written from the formulas (training-free.md), independently of ``mmseg_code.models.training_free``;
the segmentor's protocol options (PAMR, slide windows, background) reach the prediction; it refuses to train."""
import math

import numpy as np
import pytest
import torch
from open_clip.transformer import ResidualAttentionBlock

import mmseg_code  # noqa: F401
from mmseg_code.models.training_free import LAST_BLOCKS, last_block
from mmseg_code.utils.options import OptionError


# ----------------------------------------------------------------------------------------------- numpy reference
def _np(t):
    return t.detach().double().numpy()


def _ln(x, ln):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + ln.eps) * _np(ln.weight) + _np(ln.bias)


def _softmax(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


class NumpyBlock:
    """One open_clip block's weights as float64 arrays; tokens are N×W (one image)."""

    def __init__(self, block):
        a = block.attn
        self.block, self.heads, self.width = block, a.num_heads, a.embed_dim
        self.w_in, self.b_in = _np(a.in_proj_weight), _np(a.in_proj_bias)
        self.w_out, self.b_out = _np(a.out_proj.weight), _np(a.out_proj.bias)

    def qkv(self, x):
        y = _ln(x, self.block.ln_1) @ self.w_in.T + self.b_in
        d = self.width // self.heads
        split = [y[:, i * self.width:(i + 1) * self.width] for i in range(3)]
        # per head: list of N×d arrays
        return [[m[:, h * d:(h + 1) * d] for h in range(self.heads)] for m in split], d ** -0.5

    def out(self, per_head):
        return np.concatenate(per_head, axis=1) @ self.w_out.T + self.b_out

    def ffn(self, z):
        m = self.block.mlp
        hdn = _gelu(_ln(z, self.block.ln_2) @ _np(m.c_fc.weight).T + _np(m.c_fc.bias))
        return z + hdn @ _np(m.c_proj.weight).T + _np(m.c_proj.bias)


def ref_maskclip(nb, x, grid):
    (_, _, v), _ = nb.qkv(x)
    return nb.ffn(x + nb.out(v))                         # every token attends only to itself: A = I


def ref_sclip(nb, x, grid):
    (q, k, v), s = nb.qkv(x)
    heads = [(_softmax(s * qh @ qh.T) + _softmax(s * kh @ kh.T)) @ vh for qh, kh, vh in zip(q, k, v)]
    return nb.ffn(x + nb.out(heads))


def ref_clearclip(nb, x, grid):
    (q, _, v), s = nb.qkv(x)
    return nb.out([_softmax(s * qh @ qh.T) @ vh for qh, vh in zip(q, v)])


def ref_naclip(nb, x, grid, sigma):
    (_, k, v), s = nb.qkv(x)
    h, w = grid
    n = 1 + h * w
    omega = np.zeros((n, n))
    for i in range(h * w):
        for j in range(h * w):
            dist2 = (i // w - j // w) ** 2 + (i % w - j % w) ** 2
            omega[1 + i, 1 + j] = math.exp(-dist2 / (2 * sigma ** 2))
    return nb.out([_softmax(s * kh @ kh.T + omega) @ vh for kh, vh in zip(k, v)])


def _block(width, heads, seed):
    torch.manual_seed(seed)
    block = ResidualAttentionBlock(width, heads)
    with torch.no_grad():                                  # non-trivial LayerNorms and biases
        for p in block.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return block.eval()


@pytest.mark.parametrize('heads,grid', [(1, (1, 2)), (2, (2, 2))])
@pytest.mark.parametrize('name', ['maskclip', 'sclip', 'clearclip', 'naclip'])
def test_last_block_matches_numpy(name, heads, grid):
    """(1 head, 3 tokens: CLS + a 1×2 grid) and (2 heads, 5 tokens: CLS + 2×2)."""
    block = _block(4, heads, seed=heads)
    n = 1 + grid[0] * grid[1]
    x = torch.randn(1, n, 4, generator=torch.Generator().manual_seed(7))
    nb = NumpyBlock(block)
    kwargs = {}
    if name == 'naclip':
        kwargs = dict(sigma=1.0)       # σ of one patch: neighbours get e^-½, diagonal neighbours e^-1
        want = ref_naclip(nb, _np(x[0]), grid, 1.0)
    else:
        want = dict(maskclip=ref_maskclip, sclip=ref_sclip, clearclip=ref_clearclip)[name](nb, _np(x[0]), grid)
    got = last_block(name)(block, x, grid, **kwargs)
    assert got.shape == x.shape
    np.testing.assert_allclose(got[0].detach().double().numpy(), want, rtol=1e-5, atol=1e-5)


def test_batched_tokens_are_independent():
    block = _block(8, 2, seed=3)
    x = torch.randn(3, 5, 8)
    for name, fn in LAST_BLOCKS.items():
        both = fn(block, x, (2, 2))
        for i in range(3):
            torch.testing.assert_close(both[i:i + 1], fn(block, x[i:i + 1], (2, 2)), msg=name)


def test_naclip_window_peak_and_cls():
    from mmseg_code.models.training_free.naclip import gaussian_window
    om = gaussian_window((2, 3), sigma=5.0)
    assert om.shape == (7, 7) and om[0].abs().sum() == 0 and om[:, 0].abs().sum() == 0
    assert torch.allclose(om[1:, 1:].diagonal(), torch.ones(6))
    assert om[1, 2].item() == pytest.approx(math.exp(-1 / 50))         # neighbours one patch apart
    assert om[1, 6].item() == pytest.approx(math.exp(-(1 + 4) / 50))   # (0,0) to (1,2)


def test_unknown_last_block_is_one_line():
    with pytest.raises(OptionError, match="unknown last_block 'sclp'"):
        last_block('sclp')


# ----------------------------------------------------------------------------------------------- segmentor protocol
def _build(last='sclip', **test_cfg):
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='TrainingFreeSegmentor', clip=dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16'),
        decode_head=dict(type='TrainingFreeHead', last_block=last), vocabulary=['background', 'cat', 'dog', 'grass'],
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1]),
        test_cfg=dict(test_cfg))).eval()


def _predict(model, h=48, w=64):
    from mmseg.structures import SegDataSample
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    meta = dict(ori_shape=(h, w), img_shape=(h, w), pad_shape=(h, w), padding_size=[0, 0, 0, 0])
    return model.predict(x, [SegDataSample(metainfo=meta)])[0]


@pytest.mark.parametrize('last', sorted(LAST_BLOCKS))
def test_segmentor_predicts_probabilities_and_background_plane(last):
    model = _build(last)
    assert [n for n, _ in model.named_parameters() if not n.startswith('clip.')] == []   # no weights of its own
    assert all(k.startswith('clip.') for k in model.state_dict())
    assert model.test_cfg['pamr'] is False and model.test_cfg['kp_weight'] == 0 and model.test_cfg['bg_thresh'] == 0.1
    out = _predict(model)
    scores = out.seg_logits.data
    assert scores.shape == (4, 48, 64)
    assert torch.all(scores[0] == 0.1)                              # background plane = bg_thresh
    assert scores[1:].min() >= 0 and scores[1:].max() <= 1
    # softmax over the 3 foreground names: the best class has probability >= 1/3 > 0.1, never background
    assert out.pred_sem_seg.data.min() >= 1
    # mode='tensor': the head's dense features, B×D×h×w, from the method's block (MaskCLIP's differ)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    feats = model._forward(x, None)
    assert feats.shape == (1, 64, 2, 2)
    if last != 'maskclip':
        assert not torch.allclose(feats, _build('maskclip')._forward(x, None))


def test_background_threshold_reaches_prediction():
    everything_bg = _predict(_build(bg_thresh=1.0)).pred_sem_seg.data
    assert torch.all(everything_bg == 0)


def test_pamr_runs_only_when_on(monkeypatch):
    from mmseg_code.models import pamr
    calls = []
    orig = pamr.PAMR.forward
    monkeypatch.setattr(pamr.PAMR, 'forward', lambda self, *a: calls.append(a[1].shape) or orig(self, *a))
    off = _predict(_build()).seg_logits.data
    assert calls == []
    on = _predict(_build(pamr=True)).seg_logits.data
    # one window, scores at 4× the 3×4 patch grid (upsample=4), 3 foreground classes
    assert calls == [torch.Size([1, 3, 12, 16])]
    assert not torch.allclose(on, off)


def test_slide_windows_reach_the_head(monkeypatch):
    from mmseg_code.models.heads.training_free_head import TrainingFreeHead
    seen = []
    orig = TrainingFreeHead.dense_features
    monkeypatch.setattr(TrainingFreeHead, 'dense_features',
                        lambda self, t, g: seen.append((t.shape[0], g)) or orig(self, t, g))
    # (48-32)/16+1 = 2 rows × (64-32)/16+1 = 3 columns = 6 windows of 2×2 patches
    _predict(_build('naclip', mode='slide', crop_size=(32, 32), stride=(16, 16), window_batch=1))
    assert seen == [(1, (2, 2))] * 6                # mmseg's window-by-window loop
    seen.clear()
    _predict(_build('naclip', mode='slide', crop_size=(32, 32), stride=(16, 16), window_batch=8))
    assert seen == [(6, (2, 2))]                    # batched windows: one forward
    seen.clear()
    _predict(_build('naclip'))
    assert seen == [(1, (3, 4))]


def test_training_free_segmentor_refuses_to_train():
    from mmseg_code.models.segmentors.training_free import InferenceOnlyError
    model = _build('clearclip')
    with pytest.raises(InferenceOnlyError, match=r"training-free.*last_block='clearclip'"):
        model.loss(torch.zeros(1, 3, 32, 32), [])
