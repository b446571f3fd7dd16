"""Gated decoder, image segmenter F_v, Sim2Mask and the Gumbel straight-through mask."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmseg_code.models.clip import OpenCLIP
from mmseg_code.models.heads.gated_decoder import GatedConvBlock, GatedDecoder
from mmseg_code.models.heads.image_segmenter import ImageSegmenter, Sim2Mask, gumbel_sigmoid


def test_decoder_at_init_is_nearest_upsampling():
    x = torch.randn(2, 8, 3, 5)
    for double, n_blocks in ((True, 4), (False, 2)):
        dec = GatedDecoder(8, n_layers=2, double=double)
        y = dec(x)
        # by hand: each pixel copied into a 4×4 block
        ref = x.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)
        assert y.shape == (2, 8, 12, 20)
        torch.testing.assert_close(y, ref)
        assert sum(isinstance(m, GatedConvBlock) for m in dec.modules()) == n_blocks


def test_decoder_gate_opens_the_branch():
    dec = GatedDecoder(4, n_layers=1, double=False)
    blk = dec.stages[0][0]
    with torch.no_grad():
        blk.gate.fill_(0.5)
        blk.conv.weight.zero_()
        blk.conv.bias.fill_(1.0)
    x = torch.zeros(1, 4, 2, 2)
    # up ×2 of zeros, + tanh(0.5)·(0 conv + bias 1)
    torch.testing.assert_close(dec(x), torch.full((1, 4, 4, 4), math.tanh(0.5)))


def test_gated_block_parameter_count_vitb16():
    assert sum(p.numel() for p in GatedConvBlock(768).parameters()) == 5_310_721


def test_sim2mask_values():
    s2m = Sim2Mask()
    assert s2m.w.item() == 10.0 and s2m.b.item() == -2.5 and s2m.w.requires_grad
    feats = torch.zeros(1, 2, 1, 3)
    feats[0, :, 0, 0] = torch.tensor([3.0, 0.0])   # cos with t0 = 1, with t1 = 0
    feats[0, :, 0, 1] = torch.tensor([0.0, -2.0])  # cos with t0 = 0, with t1 = -1
    feats[0, :, 0, 2] = torch.tensor([1.0, 1.0])   # cos with both = 1/sqrt2
    text = torch.tensor([[2.0, 0.0], [0.0, 5.0]])
    logits, soft = s2m(feats, text)
    r = 1 / math.sqrt(2)
    want = torch.tensor([[[10 - 2.5, -2.5, 10 * r - 2.5]], [[-2.5, -10 - 2.5, 10 * r - 2.5]]])
    torch.testing.assert_close(logits[0], want)
    torch.testing.assert_close(soft[0], 1 / (1 + torch.exp(-want)))
    hard = s2m.hard(logits, deterministic=True)
    torch.testing.assert_close(hard[0], (want > 0).float())


def test_gumbel_straight_through_gradient():
    logits = torch.randn(1000, generator=torch.Generator().manual_seed(3)).requires_grad_(True)
    torch.manual_seed(0)
    y = gumbel_sigmoid(logits, tau=1.0, hard=True)
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    # gradient is the sigmoid's: d/dl σ(l + noise) = σ'(·) = y_soft (1 − y_soft) — recompute the soft sample
    torch.manual_seed(0)
    l2 = logits.detach().clone().requires_grad_(True)
    y_soft = gumbel_sigmoid(l2, tau=1.0, hard=False)
    y.sum().backward()
    y_soft.sum().backward()
    torch.testing.assert_close(logits.grad, l2.grad)
    assert torch.equal(y.detach(), (y_soft.detach() > 0.5).float())
    # hard samples are Bernoulli(σ(l)): with l = 0 half of them are 1
    torch.manual_seed(1)
    frac = gumbel_sigmoid(torch.zeros(20000)).mean().item()
    assert abs(frac - 0.5) < 0.02


@pytest.fixture(scope='module')
def clip():
    torch.manual_seed(0)
    return OpenCLIP('mmcode-tiny-vit-p16')


def test_image_segmenter_shapes_init_and_counts(clip):
    seg = ImageSegmenter(clip.image_encoder, decoder=dict(type='GatedDecoder', n_layers=2, double=True))
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        tokens, grid = clip.image_encoder.forward_features(x)
        v = seg.dense_features(tokens, grid)
        vn = seg.dense_features(tokens, grid, normalize=True)
        # at init: MaskCLIP dense features (ln_post+proj of the self-attention last block), upsampled ×4 nearest
        dense = clip.image_encoder.encode_dense(x)
    assert v.shape == (2, 64, 16, 24)
    torch.testing.assert_close(v, dense.repeat_interleave(4, 2).repeat_interleave(4, 3), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(vn.norm(dim=1), torch.ones(2, 16, 24))
    # trainable copies: the CLIP is untouched and frozen
    assert seg.block is not clip.image_encoder.blocks[-1]
    assert all(p.requires_grad for p in seg.parameters())
    assert not any(p.requires_grad for p in clip.parameters())
    width, d = 128, 64
    block = sum(p.numel() for p in clip.image_encoder.blocks[-1].parameters())
    assert sum(p.numel() for p in seg.block.parameters()) == block
    assert sum(p.numel() for p in seg.decoder.parameters()) == 4 * (2 * width + width * width * 9 + width + 1)
    assert sum(p.numel() for p in seg.image_proj.parameters()) == 2 * width + width * d
    assert sum(p.numel() for p in seg.sim2mask.parameters()) == 2


def test_layer_norm_2d_is_a_per_pixel_layer_norm():
    """timm's ``LayerNorm2d`` (eps 1e-5), as the decoder builds it, equals the hand-written per-pixel LayerNorm."""
    torch.manual_seed(0)
    norm = GatedConvBlock(6).norm
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 6, 5, 7)
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (6, ), norm.weight, norm.bias, 1e-5).permute(0, 3, 1, 2)
    assert norm.eps == 1e-5 and torch.equal(norm(x), ref)


def test_head_forward_reads_the_clip_tokens(clip):
    """As mmseg's decode head, F_v takes the image encoder's read-outs of a window: V^s of its tokens."""
    seg = ImageSegmenter(clip.image_encoder)
    x = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        feats = clip.image_encoder(x)
        assert torch.equal(seg(feats), seg.dense_features(feats.tokens, feats.grid))
    assert seg.patch_size == 16 and seg.align_corners is False


def test_frozen_block_gets_zero_gradient(clip):
    seg = ImageSegmenter(clip.image_encoder, unfreeze_iter=10)
    assert not seg.block_trainable and len(seg.frozen_parameters()) == len(list(seg.block.parameters()))
    x = torch.randn(1, 3, 32, 32)
    tokens, grid = clip.image_encoder.forward_features(x)
    seg.dense_features(tokens, grid).pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().max() == 0 for p in seg.block.parameters())
    assert seg.image_proj.proj.grad.abs().max() > 0
    seg.zero_grad(set_to_none=True)
    seg.set_block_trainable(True)
    assert seg.frozen_parameters() == []
    seg.dense_features(tokens, grid).pow(2).sum().backward()
    assert all(p.grad.abs().max() > 0 for p in seg.block.parameters())


@pytest.mark.parametrize('double', [False, True])
def test_decoder_low_resolution_phases_equal_upsample_then_conv(double):
    """The first block of each stage runs at the low resolution (4 phase convs); values and gradients must equal
    the plain upsample → LN → GELU → 3×3 conv formulation, here written with functional ops only."""
    torch.manual_seed(0)
    dec = GatedDecoder(6, n_layers=2, double=double)
    with torch.no_grad():
        for p in dec.parameters():
            if p.dim() == 0:
                p.fill_(0.8)                                   # open the gates
            else:
                p.add_(0.1 * torch.randn_like(p))             # non-trivial LN affine

    def ref(x):
        for blocks in dec.stages:
            x = F.interpolate(x, scale_factor=2, mode='nearest')
            for blk in blocks:
                y = F.layer_norm(x.permute(0, 2, 3, 1), (6, ), blk.norm.weight, blk.norm.bias, 1e-5)
                y = F.conv2d(F.gelu(y.permute(0, 3, 1, 2)), blk.conv.weight, blk.conv.bias, padding=1)
                x = x + torch.tanh(blk.gate) * y
        return x

    x = torch.randn(2, 6, 3, 5, requires_grad=True)
    params = [x] + list(dec.parameters())
    y = dec(x)
    y_ref = ref(x)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(y)
    for a, b in zip(torch.autograd.grad(y, params, g), torch.autograd.grad(y_ref, params, g)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
