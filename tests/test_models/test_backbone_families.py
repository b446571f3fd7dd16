"""open_clip backbone families on tiny random configs (tests/test_models/tiny_families/*.json): plain ViTs (patch 32 +
QuickGELU as ViT-B-32 / OpenAI; layer scale) build, train a CoDe step and predict with every training-free block; the
unsupported families fail with one line (README "Backbones")."""
import importlib.util
import os.path as osp

import open_clip
import pytest
import torch
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_code  # noqa: F401
from mmseg_code.models.clip import OpenCLIP
from mmseg_code.models.training_free import LAST_BLOCKS
from mmseg_code.utils.tool import UserError
from tests.test_models.test_segmentors.test_code_segmentor import batch, tiny_cfg, total

open_clip.add_model_config(osp.join(osp.dirname(osp.abspath(__file__)), 'tiny_families'))


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize('name', ['mmtest-vit-b32-quickgelu', 'mmtest-vit-layerscale'])
def test_plain_vit_family_trains_a_code_step_and_predicts(name):
    torch.manual_seed(0)
    clip = dict(type='OpenCLIP', model_name=name, pretrained=None)
    cfg = tiny_cfg(clip=clip)
    cfg['decode_head'] = dict(cfg['decode_head'], unfreeze_iter=0)
    model = MODELS.build(cfg).train()
    x, samples = batch(model, b=2, size=64)
    loss = total(model.loss(x, samples))
    assert torch.isfinite(loss)
    loss.backward()
    assert model.decode_head.block.attn.in_proj_weight.grad.abs().sum() > 0
    meta = dict(ori_shape=(64, 96), img_shape=(64, 96), pad_shape=(64, 96), padding_size=[0, 0, 0, 0])
    img = torch.randn(1, 3, 64, 96)
    assert model.eval().predict(img, [SegDataSample(metainfo=meta)])[0].pred_sem_seg.data.shape == (1, 64, 96)
    for last in LAST_BLOCKS:
        tf = MODELS.build(dict(type='TrainingFreeSegmentor', clip=clip, vocabulary=['background', 'circle', 'square'],
                               decode_head=dict(type='TrainingFreeHead', last_block=last))).eval()
        out = tf.predict(img, [SegDataSample(metainfo=meta)])[0]
        assert out.seg_logits.data.shape == (3, 64, 96), last


@pytest.mark.parametrize('name,message', [
    ('mmtest-convnext', 'open_clip timm trunk ConvNeXt'),
])
def test_unsupported_family_is_one_line(name, message):
    with pytest.raises(UserError) as e:
        OpenCLIP(name)
    assert str(e.value).startswith(message) and '\n' not in str(e.value)
    assert 'plain open_clip ViTs' in str(e.value)


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
    model = MODELS.build(dict(type='TrainingFreeSegmentor', clip=dict(type='OpenCLIP', model_name='mmtest-rn'),
                              decode_head=dict(type='TrainingFreeHead', last_block='maskclip'),
                              vocabulary=['background', 'circle', 'square'],
                              test_cfg=dict(mode='slide', crop_size=(64, 64), stride=(32, 32)))).eval()
    meta = dict(ori_shape=(70, 100), img_shape=(70, 100), pad_shape=(70, 100), padding_size=[0, 0, 0, 0])
    out = model.predict(torch.randn(1, 3, 70, 100), [SegDataSample(metainfo=meta)])[0]
    assert out.seg_logits.data.shape == (3, 70, 100)


@pytest.mark.parametrize('what', ['sclip', 'code'])
def test_resnet_clip_token_methods_are_one_line(what):
    if what == 'code':
        cfg = tiny_cfg(clip=dict(type='OpenCLIP', model_name='mmtest-rn', pretrained=None))
        match = r'^The trainable last block of TCL/CoDe \(ImageSegmenter\) needs a ViT CLIP'
    else:
        cfg = dict(type='TrainingFreeSegmentor', clip=dict(type='OpenCLIP', model_name='mmtest-rn'),
                   decode_head=dict(type='TrainingFreeHead', last_block='sclip'))
        match = r"^TrainingFreeHead: last_block='sclip' needs a ViT CLIP"
    with pytest.raises(UserError, match=match) as e:
        MODELS.build(cfg)
    assert '\n' not in str(e.value)
