"""open_clip backbone families on tiny random configs (tests/test_models/tiny_families/*.json; README "Backbones"):

* plain open_clip ViTs (patch 32 + QuickGELU as ViT-B-32 / OpenAI; layer scale),
* timm ViT trunks: ``mmtest-vit-mappool`` (SigLIP's vision architecture: timm VisionTransformer without class token,
  MAP attention-pool head, ``timm_proj: none``) and ``mmtest-eva02`` (EVA02-B-16's: timm Eva with class token, RoPE,
  separate q/k/v, SwiGLU with norm, inner attention norm, ``head`` projection), both at 32 px so that the 64 px windows
  exercise the resized position embeddings and the RoPE rebuilt for the grid,

build, train a CoDe step and predict with every training-free block; ModifiedResNet and timm ConvNeXt predict with
MaskCLIP; the token methods on them, other timm trunks and SigLIP's text tower fail with one line.

The two tiny timm trunks are registered here with timm's own ``register_model`` (timm has no SigLIP / EVA02 test
model); the names avoid "siglip", for which open_clip picks SigLIP's Hugging Face tokenizer.
"""
import importlib.util
import os.path as osp

import numpy as np
import open_clip
import pytest
import timm
import torch
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from timm.models import build_model_with_cfg, register_model
from timm.models.eva import Eva
from timm.models.vision_transformer import VisionTransformer

import mmseg_code  # noqa: F401
from mmseg_code.models.clip import OpenCLIP
from mmseg_code.models.clip.block_adapter import block_ops, rope_for_grid
from mmseg_code.models.training_free import LAST_BLOCKS
from mmseg_code.utils.options import OptionError
from mmseg_code.utils.tool import UserError
from tests.test_models.test_segmentors.test_code_segmentor import batch, tiny_cfg, total
from tests.test_models.test_training_free import _gelu, _ln, _np  # the numpy reference of the last blocks

open_clip.add_model_config(osp.join(osp.dirname(osp.abspath(__file__)), 'tiny_families'))

_TIMM_TINY = {
    'mmtest_vit_mappool': (VisionTransformer, dict(img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2,
                                                   class_token=False, global_pool='map')),
    'mmtest_eva02': (Eva, dict(img_size=32, patch_size=16, embed_dim=64, depth=2, num_heads=2, qkv_fused=False,
                               mlp_ratio=4 * 2 / 3, swiglu_mlp=True, scale_mlp=True, scale_attn_inner=True,
                               use_rot_pos_emb=True, ref_feat_shape=(2, 2))),
}


def _timm_entry(name):
    cls, args = _TIMM_TINY[name]

    def entry(pretrained=False, **kwargs):
        if kwargs.get('pretrained_cfg') is None:                        # no weights: a config without a source
            kwargs['pretrained_cfg'] = dict(architecture=name, num_classes=0)
        return build_model_with_cfg(cls, name, pretrained, **dict(args, **kwargs))
    entry.__name__ = name
    return entry


for _name in _TIMM_TINY:
    if not timm.is_model(_name):
        register_model(_timm_entry(_name))

TIMM_VITS = ['mmtest-vit-mappool', 'mmtest-eva02']
META = dict(ori_shape=(64, 96), img_shape=(64, 96), pad_shape=(64, 96), padding_size=[0, 0, 0, 0])


def _code_step_and_predictions(name):
    """One CoDe training step (finite loss, gradients in the trainable block copy and projection), one CoDe
    prediction and one prediction per training-free block, on 64×96 images; returns the trained model."""
    torch.manual_seed(0)
    clip = dict(type='OpenCLIP', model_name=name, pretrained=None)
    cfg = tiny_cfg(clip=clip)
    cfg['decode_head'] = dict(cfg['decode_head'], unfreeze_iter=0)
    model = MODELS.build(cfg).train()
    x, samples = batch(model, b=2, size=64)
    loss = total(model.loss(x, samples))
    assert torch.isfinite(loss)
    loss.backward()
    head = model.decode_head
    for part in (head.block, head.image_proj):
        assert sum(p.grad.abs().sum() for p in part.parameters() if p.grad is not None) > 0, name
    unused = [n for n, p in head.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == [], unused                   # DDP without find_unused_parameters
    img = torch.randn(1, 3, 64, 96)
    assert model.eval().predict(img, [SegDataSample(metainfo=META)])[0].pred_sem_seg.data.shape == (1, 64, 96)
    for last in LAST_BLOCKS:
        tf = MODELS.build(dict(type='TrainingFreeSegmentor', clip=clip, vocabulary=['background', 'circle', 'square'],
                               decode_head=dict(type='TrainingFreeHead', last_block=last))).eval()
        out = tf.predict(img, [SegDataSample(metainfo=META)])[0]
        assert out.seg_logits.data.shape == (3, 64, 96), last
        assert torch.isfinite(out.seg_logits.data).all(), last
    return model


@pytest.mark.parametrize('name', ['mmtest-vit-b32-quickgelu', 'mmtest-vit-layerscale'])
def test_plain_vit_family_trains_a_code_step_and_predicts(name):
    model = _code_step_and_predictions(name)
    assert model.decode_head.block.attn.in_proj_weight.grad.abs().sum() > 0


@pytest.mark.parametrize('name', TIMM_VITS)
def test_timm_vit_family_trains_a_code_step_and_predicts(name):
    """SigLIP-like and EVA02-like towers: CoDe's trainable copy of the last timm block (through the block adapter)
    and of the token projection T get gradients; CoDe and the four training-free blocks predict at another grid."""
    model = _code_step_and_predictions(name)
    block = model.decode_head.block.block                               # the timm block inside TimmViTBlock
    v = block.attn.v_proj.weight if block.attn.qkv is None else block.attn.qkv.weight
    assert v.grad.abs().sum() > 0


@pytest.mark.parametrize('name', TIMM_VITS)
def test_timm_vit_tokens_match_timm_at_any_grid(name):
    """The encoder's embedding + blocks equal timm's own forward: at the training grid (the tower's image embedding),
    and at a 4×6 grid against the same trunk built by timm with ``dynamic_img_size=True`` (resampled absolute position
    embeddings; EVA02: RoPE built for the grid)."""
    torch.manual_seed(0)
    enc = OpenCLIP(name).image_encoder
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(enc.encode_image(x), enc.visual(x), rtol=1e-5, atol=1e-5)
        trunk = enc.visual.trunk
        dyn = timm.create_model(trunk.default_cfg['architecture'], num_classes=0, global_pool='', dynamic_img_size=True)
        dyn.load_state_dict(trunk.state_dict(), strict=False)
        dyn.eval()
        y = torch.randn(1, 3, 64, 96)
        tokens, grid = enc.embed(y)
        assert grid == (4, 6) and tokens.shape == (1, enc.num_prefix_tokens + 24, enc.width)
        torch.testing.assert_close(trunk.norm(enc.run_blocks(tokens, grid=grid)), dyn.forward_features(y),
                                   rtol=1e-4, atol=1e-5)
        if getattr(trunk, 'rope', None) is not None:
            torch.testing.assert_close(rope_for_grid(trunk.rope, (4, 6)), dyn.rope.get_embed(shape=[4, 6]))


@pytest.mark.parametrize('name', TIMM_VITS)
def test_timm_block_adapter_reproduces_the_block(name):
    """The block adapter's pieces recompose timm's block: softmax(s·q·kᵀ) attention gives ``block(x, rope)``; the value
    path (MaskCLIP, TCL/CoDe's self-only attention) equals timm's block under a diagonal attention mask."""
    torch.manual_seed(0)
    enc = OpenCLIP(name).image_encoder
    tokens, grid = enc.forward_features(torch.randn(2, 3, 64, 96))
    wrapper = enc.blocks[-1]
    ops = block_ops(wrapper)
    with torch.no_grad():
        q, k, v = ops.qkv(tokens, grid)
        recomposed = ops.ffn(tokens + ops.ls1(ops.attend((ops.scale * q @ k.transpose(-1, -2)).softmax(-1), v)))
        torch.testing.assert_close(recomposed, wrapper(tokens, grid), rtol=1e-4, atol=1e-5)
        n = tokens.shape[1]
        diag = torch.full((n, n), float('-inf')).fill_diagonal_(0.0)
        kw = dict(rope=wrapper.rope_embed(grid)) if wrapper.rope is not None else {}
        torch.testing.assert_close(ops.self_only(tokens), wrapper.block(tokens, attn_mask=diag, **kw),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name', TIMM_VITS)
def test_timm_vit_dense_readout_is_the_pool_per_token(name):
    """MaskCLIP's dense read-out = timm's own pooling head (SigLIP: the attention pool; EVA02: class token + head) and
    open_clip's head applied to each self-only token alone: a one-token sequence makes the pool's softmax weight 1."""
    torch.manual_seed(0)
    enc = OpenCLIP(name).image_encoder
    tokens, grid = enc.forward_features(torch.randn(2, 3, 64, 96))
    with torch.no_grad():
        dense = enc.dense_from_tokens(tokens, grid)                                          # B×D×h×w
        z = block_ops(enc.blocks[-1]).self_only(tokens)[:, enc.num_prefix_tokens:]           # B×hw×W
        trunk = enc.visual.trunk
        per_token = enc.visual.head(trunk.forward_head(trunk.norm(z.reshape(-1, 1, enc.width))))
        want = per_token.reshape(2, grid[0] * grid[1], -1).transpose(1, 2).reshape(dense.shape)
    assert dense.shape == (2, enc.embed_dim, 4, 6)
    torch.testing.assert_close(dense, want, rtol=1e-5, atol=1e-5)


def _lin(x, m):
    return x @ _np(m.weight).T + (_np(m.bias) if m.bias is not None else 0.0)


def test_siglip_dense_readout_matches_numpy():
    """SigLIP-like tower: the dense read-out written out in numpy from the weights (README "Backbones"):
    last block with self-only attention z = x + proj(W_v·LN1(x) + b_v), z += fc2(GELU(fc1(LN2(z)))); u = LN(z);
    pool value path a = proj_pool(W_v'·u + b_v') (v half of the pool's kv), a += MLP(LN_pool(a)); no head
    (timm_proj none)."""
    torch.manual_seed(0)
    enc = OpenCLIP('mmtest-vit-mappool').image_encoder
    assert enc.num_prefix_tokens == 0 and enc.embed_dim == 32
    tokens, grid = enc.forward_features(torch.randn(1, 3, 64, 96))
    dense = enc.dense_from_tokens(tokens, grid)[0]                                         # D×4×6
    trunk = enc.visual.trunk
    blk, pool = trunk.blocks[-1], trunk.attn_pool
    x = _np(tokens[0])                                                                     # 24×W
    w = x.shape[1]
    wv, bv = _np(blk.attn.qkv.weight)[2 * w:], _np(blk.attn.qkv.bias)[2 * w:]
    z = x + _lin(_ln(x, blk.norm1) @ wv.T + bv, blk.attn.proj)
    z = z + _lin(_gelu(_lin(_ln(z, blk.norm2), blk.mlp.fc1)), blk.mlp.fc2)
    u = _ln(z, trunk.norm)
    e = pool.kv.out_features // 2
    a = _lin(u @ _np(pool.kv.weight)[e:].T + _np(pool.kv.bias)[e:], pool.proj)
    a = a + _lin(_gelu(_lin(_ln(a, pool.norm), pool.mlp.fc1)), pool.mlp.fc2)
    want = a.T.reshape(-1, *grid)
    np.testing.assert_allclose(_np(dense), want, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------------- timm ConvNeXt
def _maskclip_slide_prediction(model_name):
    """The training-free MaskCLIP segmentor on ``model_name`` predicts a 70×100 image through 64 px windows."""
    model = MODELS.build(dict(type='TrainingFreeSegmentor', clip=dict(type='OpenCLIP', model_name=model_name),
                              decode_head=dict(type='TrainingFreeHead', last_block='maskclip'),
                              vocabulary=['background', 'circle', 'square'],
                              test_cfg=dict(mode='slide', crop_size=(64, 64), stride=(32, 32)))).eval()
    meta = dict(ori_shape=(70, 100), img_shape=(70, 100), pad_shape=(70, 100), padding_size=[0, 0, 0, 0])
    out = model.predict(torch.randn(1, 3, 70, 100), [SegDataSample(metainfo=meta)])[0]
    assert out.seg_logits.data.shape == (3, 70, 100)


def test_convnext_clip_maskclip_readout_matches_numpy():
    """ConvNeXt (timm test_convnext trunk): the head per position, V = proj(LN_C(X)) (LayerNorm over channels at each
    position of the last feature map, then open_clip's linear projection), in numpy; MaskCLIP predicts with it."""
    from mmseg_code.models.clip import CLIPConvNeXtEncoder
    torch.manual_seed(0)
    enc = OpenCLIP('mmtest-convnext').image_encoder
    assert isinstance(enc, CLIPConvNeXtEncoder) and enc.patch_size == 32 and enc.embed_dim == 32
    x = torch.randn(1, 3, 64, 96)
    feats = enc(x)
    assert feats.tokens is None and feats.grid == (2, 3)
    fmap = _np(enc.visual.trunk.forward_features(x)[0]).transpose(1, 2, 0)                 # 2×3×C
    want = _ln(fmap, enc.visual.trunk.head.norm) @ _np(enc.visual.head.proj.weight).T        # 2×3×D (no proj bias)
    np.testing.assert_allclose(_np(feats.dense[0]), want.transpose(2, 0, 1), rtol=1e-4, atol=1e-5)
    _maskclip_slide_prediction('mmtest-convnext')


@pytest.mark.parametrize('name', ['mmtest-convnext', 'mmtest-rn'])
@pytest.mark.parametrize('what', ['sclip', 'code'])
def test_convolutional_clip_token_methods_are_one_line(name, what):
    if what == 'code':
        cfg = tiny_cfg(clip=dict(type='OpenCLIP', model_name=name, pretrained=None))
        match = r'^The trainable last block of TCL/CoDe \(ImageSegmenter\) needs a ViT CLIP'
    else:
        cfg = dict(type='TrainingFreeSegmentor', clip=dict(type='OpenCLIP', model_name=name),
                   decode_head=dict(type='TrainingFreeHead', last_block='sclip'))
        match = r"^TrainingFreeHead: last_block='sclip' needs a ViT CLIP"
    with pytest.raises((UserError, OptionError), match=match) as e:
        MODELS.build(cfg)
    assert '\n' not in str(e.value)


@pytest.mark.parametrize('name,message', [
    ('mmtest-timm-resnet', 'open_clip timm trunk ResNet is not supported'),
])
def test_unsupported_family_is_one_line(name, message):
    with pytest.raises(UserError) as e:
        OpenCLIP(name)
    assert str(e.value).startswith(message) and '\n' not in str(e.value)


def test_last_token_text_tower_serves_training_free_methods_tcl_code_one_line():
    """A SigLIP-style text tower (last-token pooling, no causal mask): CLIPTextEncoder.encode equals open_clip's own
    ``encode_text``; the training-free segmentors predict with it; TCL and CoDe stop with one line."""
    from mmseg_code.models.clip import CLIPTextEncoder, build_open_clip, build_tokenizer
    name = 'mmtest-vit-mappool-lasttext'
    torch.manual_seed(0)
    clip = build_open_clip(name, None).eval()
    enc = CLIPTextEncoder(clip, build_tokenizer(name, context_length=16))
    assert not enc.causal and enc.attn_mask is None
    ids = enc.tokenize(['a photo of a circle.', 'square', 'a very long caption ' * 5])
    assert ids.shape == (3, 16) and enc.eot_index(ids).tolist() == [15, 15, 15]
    with torch.no_grad():
        torch.testing.assert_close(enc.encode(ids), clip.encode_text(ids), rtol=1e-5, atol=1e-6)
    cfg = dict(type='OpenCLIP', model_name=name)
    img = torch.randn(1, 3, 64, 96)
    for last in LAST_BLOCKS:
        tf = MODELS.build(dict(type='TrainingFreeSegmentor', clip=cfg, vocabulary=['background', 'circle', 'square'],
                               decode_head=dict(type='TrainingFreeHead', last_block=last))).eval()
        out = tf.predict(img, [SegDataSample(metainfo=META)])[0]
        assert out.seg_logits.data.shape == (3, 64, 96) and torch.isfinite(out.seg_logits.data).all(), last
    for method in ('TCL', 'CoDe'):
        with pytest.raises(UserError) as e:
            MODELS.build(tiny_cfg(clip=cfg) if method == 'CoDe' else
                         dict(type='TCL', clip=cfg, decode_head=dict(type='ImageSegmenter', unfreeze_iter=0)))
        assert str(e.value).startswith(f'{method} trains on caption tokens of a causal CLIP text tower') and \
            '\n' not in str(e.value)


@pytest.mark.skipif(importlib.util.find_spec('transformers') is not None, reason='transformers is installed')
def test_siglip_tokenizer_without_transformers_names_the_extra(monkeypatch):
    built = []
    monkeypatch.setattr('mmseg_code.models.clip.open_clip_model.build_open_clip', lambda *a, **k: built.append(a))
    with pytest.raises(UserError) as e:
        OpenCLIP('mmtest-siglip')
    msg = str(e.value)
    assert msg == ("mmtest-siglip's tokenizer needs the optional dependency 'transformers': "
                   "pip install 'mmseg-code[optional]' (or pip install transformers).")
    assert built == []                      # before the model is built


# ----------------------------------------------------------------------------------------------- ModifiedResNet
def test_resnet_clip_maskclip_value_path_matches_numpy():
    """RN (tiny ModifiedResNet): MaskCLIP's read-out c_proj(v_proj(X)) per position of the last feature map,
    computed here in numpy from the pool's weights; the training-free MaskCLIP segmentor predicts with it."""
    import numpy as np
    from mmseg_code.models.clip import CLIPResNetEncoder
    torch.manual_seed(0)
    clip = OpenCLIP('mmtest-rn')
    enc = clip.image_encoder
    assert isinstance(enc, CLIPResNetEncoder) and enc.patch_size == 32 and enc.embed_dim == 32
    x = torch.randn(1, 3, 64, 96)
    v = clip.image_encoder.visual
    fmap = v.layer4(v.layer3(v.layer2(v.layer1(v.stem(x)))))[0].detach().double().numpy()        # C×2×3
    pool = v.attnpool
    w = lambda m: (m.weight.detach().double().numpy(), m.bias.detach().double().numpy())  # noqa: E731
    (wv, bv), (wc, bc) = w(pool.v_proj), w(pool.c_proj)
    want = np.einsum('dc,chw->dhw', wc, np.einsum('ec,chw->ehw', wv, fmap) + bv[:, None, None]) + bc[:, None, None]
    feats = enc(x)
    assert feats.tokens is None and feats.grid == (2, 3)
    np.testing.assert_allclose(feats.dense[0].detach().double().numpy(), want, rtol=1e-4, atol=1e-5)
    _maskclip_slide_prediction('mmtest-rn')
