"""MGCA's pseudo correspondences and the three losses (Eq. 2-8) against hand computations and a loop-based numpy
implementation written from the paper's equations (no code under test is used to produce expected values)."""
import math

import numpy as np
import pytest
import torch

from projects.mgca.mgca.models import correspondence as corr
from projects.mgca.mgca.models.losses import MGCALoss

# Hand-built batch: B = 2 images of L = 4 pixels, C = 2; T_0 = x-axis, T_1 = y-axis.
V = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 0.5]],
                  [[0.0, 0.5], [1.0, 1.0], [0.0, 3.0], [1.5, 0.0]]])
T = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
# S[i, j] = V_i · T_j by hand
S_HAND = [[[1, 0, 2, 0], [0, 1, 0, 0.5]],
          [[0, 1, 0, 1.5], [0.5, 1, 3, 0]]]


def _softmax(x):
    e = np.exp(np.asarray(x, dtype=np.float64) - np.max(x))
    return e / e.sum()


def test_counts_and_ranks_by_hand():
    assert corr.area_to_count(0.4, 784) == 314         # 313.6
    assert corr.area_to_count(0.05, 784) == 39         # 39.2
    assert corr.area_to_count(0.05, 10) == 1           # 0.5 rounds up
    assert corr.area_to_count(0.01, 10) == 1           # at least one pixel
    assert corr.semi_hard_rank(0.06, 314) == 19        # 0.06 * 313 = 18.78
    assert corr.semi_hard_rank(0.0, 314) == 0          # most trustworthy = most similar
    assert corr.semi_hard_rank(1.0, 314) == 313        # hardest = least similar pixel of the object


def test_similarity_and_topk_selections_by_hand():
    s = corr.pixel_text_similarity(V, T)
    assert s.shape == (2, 2, 4)
    assert torch.equal(s, torch.tensor(S_HAND))
    # object (k = 0.5 -> 2 of 4 pixels) on the diagonal
    assert corr.topk_mask(corr.diagonal(s), 2).tolist() == [[1, 0, 1, 0], [0, 1, 1, 0]]
    # hard-negative regions (k_n = 0.25 -> 1 pixel): image 0 for text 1 -> pixel 1; image 1 for text 0 -> pixel 3
    m = corr.topk_mask(s, 1)
    assert m[0, 1].tolist() == [0, 1, 0, 0] and m[1, 0].tolist() == [0, 0, 0, 1]


def test_pooling_by_hand():
    s = corr.pixel_text_similarity(V, T)
    obj = corr.object_embeddings(V, s, k=0.5)
    e = math.e
    # V^r_00 = Prob0 * [1, 0] + Prob2 * [2, 0], Prob = softmax([1, 0, 2, 0]) (no renormalisation)
    assert obj[0].tolist() == pytest.approx([(e + 2 * e * e) / (e * e + e + 2), 0.0], rel=1e-6)
    p = _softmax([0.5, 1, 3, 0])
    assert obj[1].tolist() == pytest.approx([p[1], p[1] + 3 * p[2]], rel=1e-6)
    reg = corr.region_embeddings(V, s, obj, k_n=0.25)
    assert torch.equal(reg[0, 0], obj[0]) and torch.equal(reg[1, 1], obj[1])
    assert reg[0, 1].tolist() == pytest.approx([0.0, e / (2 + e + math.exp(0.5))], rel=1e-6)
    assert reg[1, 0].tolist() == pytest.approx([_softmax([0, 1, 0, 1.5])[3] * 1.5, 0.0], rel=1e-6)


def _loss(**kw):
    cfg = dict(k=0.5, k_n=0.25, k_pix=1.0, scale=1.0,
               loss_obj=dict(type='MGCAObjectLoss', temperature=1.0),
               loss_reg=dict(type='MGCARegionLoss', temperature=1.0),
               loss_pix=dict(type='MGCAPixelLoss', temperature=1.0))
    cfg.update(kw)
    return MGCALoss(**cfg)


def test_three_losses_by_hand():
    out = _loss()(V, T)
    p = _softmax([0.5, 1, 3, 0])
    v11 = np.array([p[1], p[1] + 3 * p[2]])
    c = v11[1] / np.linalg.norm(v11)                     # s(V^r_11, T_1)
    a = v11[0] / np.linalg.norm(v11)                     # s(V^r_11, T_0)
    # Eq. 5: V^r_00 is along T_0: rows [1, 0] and [a, c]; columns [1, a] and [0, c]
    l_obj = 0.5 * (np.log1p(np.exp(-1)) + np.log1p(np.exp(a - c)) + np.log1p(np.exp(a - 1)) + np.log1p(np.exp(-c)))
    # Eq. 6: the hard regions V^r_01, V^r_10 lie along their texts (cosine 1)
    l_reg = np.log(2) + np.log1p(np.exp(1 - c))
    # Eq. 7, k_pix = 1 (second of the 2 object pixels): S+_00 = 1, S+_11 = 1; S-_01 = 1, S-_10 = 1.5
    l_pix = np.log(2) + np.log1p(np.exp(0.5))
    assert out['loss_obj'].item() == pytest.approx(l_obj, rel=1e-5)
    assert out['loss_reg'].item() == pytest.approx(l_reg, rel=1e-5)
    assert out['loss_pix'].item() == pytest.approx(l_pix, rel=1e-5)
    # k_pix = 0: the most similar object pixel, S+_00 = 2, S+_11 = 3
    l_pix0 = 0.5 * sum(np.log1p(np.exp(-d)) for d in (1.0, 0.5, 1.5, 2.0))
    assert _loss(k_pix=0.0)(V, T)['loss_pix'].item() == pytest.approx(l_pix0, rel=1e-5)


def numpy_mgca(v, t, k, k_n, k_pix, tau, f):
    """Loop implementation of Eq. 2-7 (float64)."""
    v, t = v.astype(np.float64), t.astype(np.float64)
    b, n_pix, _ = v.shape
    cos = lambda x, y: x @ y / np.linalg.norm(x) / np.linalg.norm(y)  # noqa: E731
    n_k, n_kn = max(1, int(np.floor(k * n_pix + 0.5))), max(1, int(np.floor(k_n * n_pix + 0.5)))
    s = np.array([[v[i] @ t[j] for j in range(b)] for i in range(b)])              # B×B×L
    reg = np.zeros((b, b, v.shape[2]))
    for i in range(b):
        for j in range(b):
            prob = _softmax(s[i, j])
            keep = np.argsort(-s[i, j], kind='stable')[:n_k if i == j else n_kn]
            reg[i, j] = sum(prob[p] * v[i, p] for p in keep)
    l_obj = l_reg = l_pix = 0.0
    r = int(np.floor(k_pix * (n_k - 1) + 0.5))
    pos = [np.sort(s[i, i])[::-1][r] / f for i in range(b)]
    neg = lambda i, j: s[i, j].max() / f  # noqa: E731
    for i in range(b):
        num = cos(reg[i, i], t[i]) / tau
        l_obj -= num - np.log(sum(np.exp(cos(reg[i, i], t[j]) / tau) for j in range(b)))
        l_obj -= num - np.log(sum(np.exp(cos(t[i], reg[j, j]) / tau) for j in range(b)))
        l_reg -= num - np.log(sum(np.exp(cos(reg[i, j], t[j]) / tau) for j in range(b)))
        l_reg -= num - np.log(sum(np.exp(cos(t[i], reg[j, i]) / tau) for j in range(b)))
        p = pos[i] / tau
        l_pix -= p - np.log(np.exp(p) + sum(np.exp(neg(i, j) / tau) for j in range(b) if j != i))
        l_pix -= p - np.log(np.exp(p) + sum(np.exp(neg(j, i) / tau) for j in range(b) if j != i))
    return l_obj / b, l_reg / b, l_pix / b


def test_paper_hyperparameters_match_numpy_reference():
    g = torch.Generator().manual_seed(0)
    b, n_pix, c = 4, 50, 8
    v = torch.randn(b, n_pix, c, generator=g) * 3
    t = torch.randn(b, c, generator=g) * 3
    out = MGCALoss()(v, t)                               # k 0.4, k_n 0.05, k_pix 0.06, tau 0.07, f = 5 sqrt(C)
    ref = numpy_mgca(v.numpy(), t.numpy(), 0.4, 0.05, 0.06, 0.07, 5 * math.sqrt(c))
    got = (out['loss_obj'].item(), out['loss_reg'].item(), out['loss_pix'].item())
    assert got == pytest.approx(ref, rel=1e-4)


def test_single_pair_has_no_negatives_and_gradients_flow():
    v = torch.randn(1, 20, 4, requires_grad=True)
    out = MGCALoss()(v, torch.randn(1, 4))
    for key in ('loss_obj', 'loss_reg', 'loss_pix'):
        assert out[key].item() == pytest.approx(0.0, abs=1e-6), key
    v = torch.randn(3, 20, 4, requires_grad=True)
    sum(MGCALoss()(v, torch.randn(3, 4)).values()).backward()
    assert v.grad is not None and v.grad.abs().sum() > 0


def test_levels_can_be_switched_off():
    out = MGCALoss(loss_obj=None, loss_reg=None)(torch.randn(2, 10, 4), torch.randn(2, 4))
    assert set(out) == {'loss_pix'}
    with pytest.raises(ValueError):
        MGCALoss(loss_obj=None, loss_reg=None, loss_pix=None)
