"""Text segmenter F_t: Eq. 2 logits, Eq. 3 word masks, padding, parameters, gradients."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mmseg.registry import MODELS
from mmseg_code.models.clip import OpenCLIP
from mmseg_code.models.heads.text_segmenter import TextSegmenter, word_mask_logits, word_masks


@pytest.fixture(scope='module')
def clip():
    torch.manual_seed(0)
    return OpenCLIP('mmcode-tiny-vit-p16')


def test_eq3_hand_made_logits():
    # token 0: ℓ = (ln 1, ln 2) → (1/4, 2/4); token 1: ℓ = (0, 0) → (1/3, 1/3); token 2: ℓ = (ln 3, −inf-ish)
    ell = torch.tensor([[[0.0, 0.0, math.log(3.0)], [math.log(2.0), 0.0, -1e4]]])  # B=1, J=2, L=3
    m = word_masks(word_mask_logits(ell))
    expected = torch.tensor([[[1 / 4, 1 / 3, 3 / 4], [2 / 4, 1 / 3, 0.0]]])
    torch.testing.assert_close(m, expected)


def test_eq3_all_background():
    # very negative logits: every word belongs to no noun
    m = word_masks(word_mask_logits(torch.full((2, 3, 5), -50.0)))
    assert m.max().item() < 1e-20
    # all nouns invalid: masks are exactly 0, background exactly 1
    z = word_mask_logits(torch.randn(2, 3, 5), torch.zeros(2, 3, dtype=torch.bool))
    assert torch.equal(word_masks(z), torch.zeros(2, 3, 5))
    assert torch.equal(z.softmax(1)[:, 0], torch.ones(2, 5))


def test_padded_noun_equals_dropping_it():
    torch.manual_seed(0)
    ell = torch.randn(2, 3, 7)
    valid = torch.tensor([[True, False, True], [True, True, False]])
    m = word_masks(word_mask_logits(ell, valid))
    for b in range(2):
        keep = valid[b]
        ref = word_masks(word_mask_logits(ell[b:b + 1, keep]))
        torch.testing.assert_close(m[b:b + 1, keep], ref)
        assert (m[b, ~keep] == 0).all()


def test_eq2_against_numpy(clip):
    te = clip.text_encoder
    seg = MODELS.build(dict(type='TextSegmenter', num_heads=2), default_args=dict(text_encoder=te))
    with torch.no_grad():
        seg.logit_scale.fill_(7.0)
        seg.logit_bias.fill_(-0.5)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 64)).astype(np.float32)
    n = rng.normal(size=(2, 3, 64)).astype(np.float32)
    ref = 7.0 * np.einsum('blc,bjc->bjl', x, n) - 0.5
    got = seg.logits(torch.tensor(x), torch.tensor(n))
    np.testing.assert_allclose(got.detach().numpy(), ref, rtol=1e-5, atol=1e-4)


def test_forward_shapes_and_unit_features(clip):
    te = clip.text_encoder
    seg = TextSegmenter(te, num_heads=2)
    ids = te.tokenize(['a dog on a red sofa', 'two cats'])
    x = seg.token_features(ids)
    assert x.shape == (2, 77, 64)
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(2, 77))
    n = torch.nn.functional.normalize(torch.randn(2, 2, 64), dim=-1)
    z = seg(ids, n, torch.tensor([[True, True], [True, False]]))
    assert z.shape == (2, 3, 77)
    assert (z[:, 0] == 0).all() and torch.isinf(z[1, 2]).all()


def _fake_encoder(width, embed_dim):
    return SimpleNamespace(width=width, embed_dim=embed_dim, eot_index=None, encode_dense=None)


def test_parameter_counts():
    def block(c):
        return 12 * c * c + 13 * c  # qkv + out + 2 LN + MLP 4×, with biases

    tiny = TextSegmenter(_fake_encoder(64, 64), num_heads=2)
    assert sum(p.numel() for p in tiny.parameters()) == 2 * block(64) + 2
    full = TextSegmenter(_fake_encoder(512, 512), num_heads=8)
    # ref-code-impl §2.1: text decoder 6,304,768 (+ w, b)
    assert sum(p.numel() for p in full.blocks.parameters()) == 6_304_768
    assert sum(p.numel() for p in full.parameters()) == 6_304_770
    with pytest.raises(ValueError, match='proj=True'):
        TextSegmenter(_fake_encoder(768, 512), num_heads=8)
    proj = TextSegmenter(_fake_encoder(96, 64), num_heads=2, proj=True)
    assert proj.proj.weight.shape == (64, 96)


def test_padding_mask_option(clip, monkeypatch):
    te = clip.text_encoder
    ids = te.tokenize(['a dog', 'a cat on a mat'])
    eot = te.eot_index(ids)
    torch.manual_seed(0)
    base = torch.randn(2, 77, 64)
    noisy = base.clone()
    for b in range(2):
        noisy[b, eot[b] + 1:] = torch.randn(77 - eot[b] - 1, 64)
    torch.manual_seed(1)
    seg_pad = TextSegmenter(te, num_heads=2, attn_mask='padding')
    seg_none = TextSegmenter(te, num_heads=2, attn_mask='none')
    outs = {}
    for name, seg in (('pad', seg_pad), ('none', seg_none)):
        for tag, feats in (('base', base), ('noisy', noisy)):
            monkeypatch.setattr(te, 'encode_dense', lambda i, f=feats: f)
            outs[name, tag] = seg.token_features(ids).detach()
    monkeypatch.undo()
    for b in range(2):
        k = eot[b] + 1
        torch.testing.assert_close(outs['pad', 'base'][b, :k], outs['pad', 'noisy'][b, :k])
        assert not torch.allclose(outs['none', 'base'][b, :k], outs['none', 'noisy'][b, :k])


def test_gradients_reach_blocks_and_w_b_not_clip(clip):
    te = clip.text_encoder
    seg = TextSegmenter(te, num_heads=2)
    ids = te.tokenize(['a dog on a red sofa', 'two cats'])
    n = torch.randn(2, 2, 64, requires_grad=True)
    z = seg(ids, n)
    (word_masks(z) * torch.randn(2, 2, 77)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in seg.parameters())
    assert n.grad is not None
    assert all(p.grad is None for p in clip.parameters())
