"""``ImageSegmenter(last_block=...)``: TCL/CoDe with the SCLIP / ClearCLIP / NACLIP attention in the trainable copy of
CLIP's last block; the option reaches training (gradients, the copy's unused FFN frozen) and prediction."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_code  # noqa: F401
from mmseg_code.models.training_free import LAST_BLOCKS
from tests.test_models.test_segmentors.test_code_segmentor import batch, tiny_cfg, total

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _build(last_block, unfreeze_iter=0):
    torch.manual_seed(0)
    cfg = tiny_cfg()
    cfg['decode_head'] = dict(cfg['decode_head'], last_block=last_block, unfreeze_iter=unfreeze_iter)
    return MODELS.build(cfg)


@pytest.mark.parametrize('last_block', ['sclip', 'clearclip', 'naclip'])
def test_last_block_reaches_training_and_prediction(last_block):
    model = _build(last_block)
    seg = model.decode_head
    # the head's dense features are the named block's output through the decoder and projection
    tokens, grid = model.image_encoder.forward_features(torch.randn(1, 3, 32, 48))
    x = LAST_BLOCKS[last_block](seg.block, tokens, grid)[:, 1:].transpose(1, 2).reshape(1, -1, *grid)
    torch.testing.assert_close(seg.dense_features(tokens, grid), seg.image_proj(seg.decoder(x)))

    model.train()
    xb, samples = batch(model, b=2, size=32)
    total(model.loss(xb, samples)).backward()
    attn = seg.block.attn
    assert attn.in_proj_weight.grad is not None and attn.in_proj_weight.grad.abs().sum() > 0
    assert attn.out_proj.weight.grad.abs().sum() > 0
    no_ffn = last_block in ('clearclip', 'naclip')
    for p in list(seg.block.mlp.parameters()) + list(seg.block.ln_2.parameters()):
        assert p.requires_grad is (not no_ffn)
        assert (p.grad is None) is no_ffn

    model.eval()
    meta = dict(ori_shape=(32, 48), img_shape=(32, 48), pad_shape=(32, 48), padding_size=[0, 0, 0, 0])
    img = torch.randn(1, 3, 32, 48, generator=torch.Generator().manual_seed(3))
    got = model.predict(img, [SegDataSample(metainfo=meta)])[0].seg_logits.data
    ref = _build('maskclip')
    ref.load_state_dict(model.state_dict())               # same weights, MaskCLIP's block
    want = ref.eval().predict(img, [SegDataSample(metainfo=meta)])[0].seg_logits.data
    assert got.shape == want.shape == (3, 32, 48) and not torch.allclose(got, want)


def test_maskclip_default_is_unchanged():
    """The default block is the MaskCLIP value path TCL and CoDe have always used."""
    from mmseg_code.models.clip.image_encoder import self_attention_block
    model = _build('maskclip')
    assert model.decode_head.last_block == 'maskclip'
    tokens, grid = model.image_encoder.forward_features(torch.randn(1, 3, 32, 32))
    torch.testing.assert_close(LAST_BLOCKS['maskclip'](model.decode_head.block, tokens, grid),
                               self_attention_block(model.decode_head.block, tokens))


def test_configs_select_the_block():
    for name in ('sclip', 'clearclip', 'naclip'):
        cfg = Config.fromfile(f'{ROOT}/configs/code/code_vitb16_cc_{name}.py')
        assert cfg.model.type == 'CoDe' and cfg.model.decode_head.last_block == name
    cfg = Config.fromfile(f'{ROOT}/configs/code/code_tiny_shapes_naclip.py')
    assert cfg.model.decode_head.last_block == 'naclip' and cfg.model.clip.model_name == 'mmcode-shapes-vit'
