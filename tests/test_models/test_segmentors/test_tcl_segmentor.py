"""TextSupervisedSegmentor inference (background, slide, KP, caching) and TCL training (loss, gradients, counts)."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_code  # noqa: F401
from mmseg_code.models.pamr import PAMR

init_default_scope('mmseg')


def build(**test_cfg):
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='TCL',
        clip=dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16'),
        decode_head=dict(type='ImageSegmenter', unfreeze_iter=0),
        test_cfg=test_cfg))


@pytest.fixture(scope='module')
def model():
    return build()


def batch(model, b=2, size=32):
    x = torch.randn(b, 3, size, size)
    caps = ['a red square on grass', 'a blue circle', 'a cat', 'two dogs'][:b]
    samples = []
    for c in caps:
        s = SegDataSample(metainfo=dict(caption=c))
        s.text_ids = model.clip.text_encoder.tokenize(c)[0]
        samples.append(s)
    return x, samples


def test_loss_terms_finite_and_gradients_reach_exactly_the_trainable_parameters(model):
    model.train()
    model.zero_grad(set_to_none=True)
    x, samples = batch(model)
    losses = model.loss(x, samples)
    assert set(losses) == {'loss_tcl_img', 'loss_tcl_feat', 'loss_area', 'loss_neg_area', 'loss_tv_img',
                           'loss_tv_mask'}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values())
    sum(losses.values()).backward()
    got = {n for n, p in model.named_parameters() if p.grad is not None}
    want = {n for n, p in model.named_parameters() if p.requires_grad}
    assert got == want
    assert all(n.startswith(('decode_head.', 'loss_seg.')) for n in want)
    assert not any(n.startswith('clip.') for n in got)
    # nonzero where the decoder gates are closed at init: gates, block, projection, w/b, temperatures
    nz = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    for n in ['decode_head.sim2mask.w', 'decode_head.sim2mask.b', 'decode_head.image_proj.proj',
              'decode_head.block.mlp.c_fc.weight', 'decode_head.decoder.stages.0.0.gate',
              'loss_seg.infonce_img.logit_scale', 'loss_seg.infonce_feat.logit_scale']:
        assert n in nz, n


def test_trainable_parameter_counts_per_part(model):
    def count(mod, trainable=True):
        return sum(p.numel() for p in mod.parameters() if p.requires_grad or not trainable)
    w, d = 128, 64
    assert count(model.clip) == 0
    seg = model.decode_head
    block = count(model.clip.image_encoder.blocks[-1], trainable=False)
    assert count(seg.block) == block
    assert count(seg.decoder) == 4 * (2 * w + 9 * w * w + w + 1)
    assert count(seg.image_proj) == 2 * w + w * d and count(seg.sim2mask) == 2
    assert count(model.loss_seg) == 2
    frozen = build()
    frozen.decode_head.set_block_trainable(False)
    assert frozen.decode_head.frozen_parameters() == list(frozen.decode_head.block.parameters())


def test_background_threshold_on_hand_made_scores(model, monkeypatch):
    model.eval()
    model.set_vocabulary(['background', 'cat', 'dog'])
    scores = torch.tensor([[0.3, 0.6], [0.45, 0.1]])             # cat
    scores2 = torch.tensor([[0.2, 0.7], [0.35, 0.2]])            # dog
    fg = torch.stack([scores, scores2])[None]                    # 1×2×2×2 at 1/4 of an 8×8 image

    def fake(feats, classes, test_cfg):
        return F.interpolate(fg, size=feats.shape[-2:], mode='nearest')
    monkeypatch.setattr(model.decode_head, 'class_scores', fake)
    monkeypatch.setattr(PAMR, 'forward', lambda self, img, masks: masks)     # the threshold rule alone
    model.test_cfg.update(kp_weight=0.0)
    model.test_cfg.update(bg_thresh=None, pamr=True)
    assert model.bg_thresh == 0.4
    out = model.predict(torch.zeros(1, 3, 16, 16))[0]
    pred = out.pred_sem_seg.data[0]
    # at the pixel centres of each 8×8 quadrant: max ≤ 0.4 → background (0)
    assert pred[2, 2] == 0 and pred[2, 13] == 2 and pred[13, 2] == 1 and pred[13, 13] == 0
    model.test_cfg.update(pamr=False)
    assert model.bg_thresh == 0.5
    pred = model.predict(torch.zeros(1, 3, 16, 16))[0].pred_sem_seg.data[0]
    assert pred[13, 2] == 0 and pred[2, 13] == 2          # 0.45 is now background
    model.test_cfg.update(pamr=True, kp_weight=0.3)


def test_slide_inference_averages_windows(model, monkeypatch):
    model.set_vocabulary(['a', 'b'], background=False)
    model.test_cfg.update(mode='slide', crop_size=(32, 32), stride=(16, 16), window_batch=1)   # mmseg's loop
    calls = []

    def fake(x, metas=None):
        calls.append(x.shape[-1])
        return torch.full((x.shape[0], 2, x.shape[-2], x.shape[-1]), float(2 * len(calls) - 1))
    monkeypatch.setattr(model, 'encode_decode', fake)
    out = model.inference(torch.zeros(1, 3, 32, 48), [dict(ori_shape=(32, 48))])
    # windows: cols 0-31 (value 1) and 16-47 (value 3)
    assert len(calls) == 2
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([1.0] * 16 + [2.0] * 16 + [3.0] * 16))
    calls.clear()
    model.test_cfg.update(window_batch=8)                                  # batched: one call, same average
    monkeypatch.setattr(model, 'encode_decode', lambda x, metas=None: torch.stack(
        [torch.full((2, 32, 32), 2.0 * i + 1) for i in range(x.shape[0])]))
    out = model.inference(torch.zeros(1, 3, 32, 48), [dict(ori_shape=(32, 48))])
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([1.0] * 16 + [2.0] * 16 + [3.0] * 16))
    model.test_cfg.update(mode='whole', window_batch=8)


def test_whole_inference_pads_and_crops(model):
    model.eval()
    model.set_vocabulary(['cat', 'dog', 'car'], background=True)
    out = model.predict(torch.randn(1, 3, 40, 50))[0]
    assert out.seg_logits.data.shape == (4, 40, 50) and out.pred_sem_seg.data.shape == (1, 40, 50)
    s = SegDataSample(metainfo=dict(ori_shape=(20, 25), img_shape=(40, 50), padding_size=[0, 0, 0, 0]))
    out = model.predict(torch.randn(1, 3, 40, 50), [s])[0]
    assert out.pred_sem_seg.data.shape == (1, 20, 25)
    # mmseg's tensor mode: the head's dense features V^s (1/4 of the input padded to 48×48); extract_feat: CLIP's
    assert model._forward(torch.randn(1, 3, 40, 40)).shape == (1, 64, 12, 12)
    assert model.extract_feat(torch.randn(1, 3, 32, 32)).dense.shape == (1, 64, 2, 2)


def test_kp_branch_alone_is_maskclip():
    m = build(pamr=False, kp_weight=1.0)
    m.eval()
    m.set_vocabulary(['cat', 'dog'], background=False)
    x = torch.randn(1, 3, 32, 32)
    got = m.encode_decode(x, [dict(ori_shape=(32, 32))])
    with torch.no_grad():
        dense = F.normalize(m.clip.image_encoder.encode_dense(x), dim=1)
        te = m.clip.text_encoder
        from mmseg_code.models.vocab import TEMPLATES
        t = torch.stack([F.normalize(te.encode(te.tokenize([tp.format(n) for tp in TEMPLATES['custom']])).mean(0),
                                     dim=0) for n in ['cat', 'dog']])
        want = torch.sigmoid((torch.einsum('bdhw,kd->bkhw', dense, t) - 0.25) * 10)
        want = F.interpolate(want, size=(8, 8), mode='bilinear', align_corners=False)
        want = F.interpolate(want, size=(32, 32), mode='bilinear', align_corners=False)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_vocabulary_embeddings_cached_once(model, monkeypatch):
    model.eval()
    calls = []
    orig = model.clip.text_encoder.encode

    def counting(ids):
        calls.append(ids.shape[0])
        return orig(ids)
    monkeypatch.setattr(model.clip.text_encoder, 'encode', counting)
    model.set_vocabulary(['background', 'sheep', 'cow'])
    for _ in range(3):
        model.predict(torch.randn(1, 3, 32, 32))
    assert calls == [2 * 9]                        # 2 names × 9 templates, once (masker and KP share it)
    model.set_vocabulary(['background', 'sheep', 'cow'])   # same vocabulary: still cached
    model.predict(torch.randn(1, 3, 32, 32))
    assert len(calls) == 1
    model.set_vocabulary(['background', 'sheep', 'horse'])
    model.predict(torch.randn(1, 3, 32, 32))
    assert len(calls) == 2
    model.train()
    x, samples = batch(model)
    model.loss(x, samples)                          # a training step invalidates the cache
    model.eval()
    model.predict(torch.randn(1, 3, 32, 32))
    assert len(calls) == 4                          # +1 caption batch in loss, +1 vocabulary


def test_dataset_meta_sets_vocabulary_and_errors():
    m = build()
    with pytest.raises(RuntimeError, match='No vocabulary'):
        m.predict(torch.randn(1, 3, 32, 32))
    m.test_cfg.update(mode='slide', crop_size=(32, 32), stride=(16, 16))
    with pytest.raises(RuntimeError, match='No vocabulary'):                  # slide asks out_channels first
        m.predict(torch.randn(1, 3, 32, 32))
    m.test_cfg.update(mode='whole')
    m.dataset_meta = dict(classes=('background', 'aeroplane', 'bicycle'), palette=[[0, 0, 0]] * 3)
    assert m.vocabulary.class_names == ['background', 'aeroplane', 'bicycle'] and m.vocabulary.has_background
    m.dataset_meta = dict(img_path='x')                             # no classes: unchanged
    assert len(m.vocabulary) == 3


def test_postprocess_result_equals_mmseg(model):
    """The shortcuts of ``postprocess_result`` (identity resize skipped, channel-last argmax) give mmseg's results:
    same size, padding, flips, a real resize, and ties (first class wins)."""
    from mmseg.models.segmentors.base import BaseSegmentor
    torch.manual_seed(0)
    scores = torch.rand(4, 5, 12, 16)
    scores[0, 1, :3, :3] = scores[0, 3, :3, :3] = 2.0          # ties
    metas = [dict(ori_shape=(12, 16), padding_size=[0, 0, 0, 0]),
             dict(ori_shape=(10, 13), padding_size=[1, 2, 0, 2]),
             dict(ori_shape=(12, 16), flip=True, flip_direction='horizontal'),
             dict(ori_shape=(24, 20), img_padding_size=[0, 0, 1, 1], flip=True, flip_direction='vertical')]
    got = model.postprocess_result(scores, [SegDataSample(metainfo=m) for m in metas])
    ref = BaseSegmentor.postprocess_result(model, scores, [SegDataSample(metainfo=m) for m in metas])
    for g, r in zip(got, ref):
        assert torch.equal(g.seg_logits.data, r.seg_logits.data)
        assert torch.equal(g.pred_sem_seg.data, r.pred_sem_seg.data)


def test_misspelt_test_cfg_key_is_an_error():
    """``--cfg-options model.test_cfg.bg_thres=0.9`` (typo of bg_thresh) was silently ignored: same mIoU as the
    default. It is a one-line error naming the key, the closest known key and all known keys."""
    import pytest
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmseg_code  # noqa: F401
    from mmseg_code.models.segmentors.base import DEFAULT_TEST_CFG
    init_default_scope('mmseg')
    root = __import__('pathlib').Path(__file__).parents[3]
    cfg = Config.fromfile(str(root / 'configs/tcl/zeroshot/tcl_vitb16_voc21.py'))
    cfg.merge_from_dict({'model.clip.model_name': 'mmcode-tiny-vit-p16', 'model.clip.pretrained': None,
                         'model.test_cfg.bg_thres': 0.9})                     # what tools/test.py does
    known = ', '.join(sorted(DEFAULT_TEST_CFG))
    with pytest.raises(ValueError) as err:
        MODELS.build(cfg.model)
    msg = str(err.value)
    assert msg == f"Unknown key 'bg_thres' in TCL test_cfg (did you mean 'bg_thresh'?); known keys: {known}."
    assert '\n' not in msg
    cfg.model.test_cfg.pop('bg_thres')
    cfg.model.test_cfg.bg_thresh = 0.9
    assert MODELS.build(cfg.model).bg_thresh == 0.9
