"""TSEG Eqs. 2-8 (pooling, MPA/SPA masks, size penalty) and the losses, against hand / numpy values."""
import math

import numpy as np
import pytest
import torch

from projects.tseg.tseg.models import (MPAPooling, TSEGDiceLoss, TSEGSoftMarginLoss, batch_targets, gwp, mpa_masks,
                                       size_penalty, spa_masks)

# S for one image: N = 3 patches × L = 2 expressions.
S = np.array([[2.0, -1.0],
              [0.0, 1.0],
              [-2.0, 3.0]])


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_mpa_masks_eq6_hand_values():
    m = mpa_masks(torch.tensor(S)).numpy()
    # e^s / (e^0 + e^s): e^2/(1+e^2) = 0.880797, 1/2, e^-2/(1+e^-2) = 0.119203 ...
    assert m[0, 0] == pytest.approx(0.8807970779778823)
    assert m[1, 0] == pytest.approx(0.5)
    assert m[2, 0] == pytest.approx(0.11920292202211755)
    assert m[2, 1] == pytest.approx(0.9525741268224334)
    # s_bg shifts the decision: σ(s − s_bg)
    assert mpa_masks(torch.tensor(S), s_bg=1.0).numpy()[1, 1] == pytest.approx(0.5)
    # multi-label: a patch can belong to both expressions (row sums > 1 allowed)
    both = mpa_masks(torch.tensor([[3.0, 3.0]])).numpy()
    assert both.sum() == pytest.approx(2 * math.exp(3) / (1 + math.exp(3)))


def test_spa_masks_eq5_hand_values():
    m = spa_masks(torch.tensor(S)).numpy()
    # row 0: [e^0, e^2, e^-1] normalised, background dropped
    den = 1 + math.e ** 2 + math.e ** -1
    assert m[0, 0] == pytest.approx(math.e ** 2 / den)
    assert m[0, 1] == pytest.approx(math.e ** -1 / den)
    # background keeps the rest: row sums are 1 − m_bg
    assert m.sum(1) == pytest.approx(1 - 1 / (1 + np.exp(S).sum(1)))


def test_gwp_eq4_and_gap_special_case():
    masks = _sig(S)
    eps = 1.0
    want = (masks * S).sum(0) / (masks.sum(0) + eps)
    got = gwp(torch.tensor(S), torch.tensor(masks), eps).numpy()
    assert got == pytest.approx(want)
    # GAP = GWP with m ≡ 1, ε = 0 (Eq. 2)
    assert gwp(torch.tensor(S), torch.ones(3, 2, dtype=torch.float64), 0.0).numpy() == pytest.approx([0.0, 1.0])


def test_size_penalty_eq7_hand_values():
    masks = torch.tensor([[0.2, 1.0], [0.1, 1.0], [0.0, 1.0]], dtype=torch.float64)
    got = size_penalty(masks, lam=0.01, p=5).numpy()
    # m̄ = 0.1 → (0.9)^5 · log(0.11) = 0.59049 · (−2.2072749) = −1.3033868 ; m̄ = 1 → 0
    assert got[0] == pytest.approx(0.59049 * math.log(0.11))
    assert got[1] == pytest.approx(0.0)
    # p = 0: plain log(λ + m̄); λ = 0 on an empty mask stays finite (clamped)
    assert size_penalty(masks, lam=0.1, p=0).numpy()[0] == pytest.approx(math.log(0.2))
    assert np.isfinite(size_penalty(torch.zeros(3, 1), lam=0.0, p=5).numpy()).all()


def test_mpa_pooling_eq8_matches_numpy():
    pool = MPAPooling(mode='mpa', eps=1.0, lam=0.01, p=5)
    z, m = pool(torch.tensor(S)[None])
    masks = _sig(S)
    mean = masks.mean(0)
    want = (masks * S).sum(0) / (masks.sum(0) + 1.0) + (1 - mean) ** 5 * np.log(0.01 + mean)
    assert z.shape == (1, 2) and m.shape == (1, 3, 2)
    assert z[0].numpy() == pytest.approx(want)


@pytest.mark.parametrize('mode,want', [('gap', S.mean(0)), ('gmp', S.max(0))])
def test_gap_gmp_eq2_eq3(mode, want):
    z, m = MPAPooling(mode=mode)(torch.tensor(S)[None])
    assert z[0].numpy() == pytest.approx(want)
    # CAM-style masks: min-max over patches
    assert m[0, :, 0].numpy() == pytest.approx([1.0, 0.5, 0.0])


def test_spa_pooling_uses_softmax_masks():
    z, m = MPAPooling(mode='spa', size_penalty=False)(torch.tensor(S)[None])
    e = np.exp(S)
    masks = e / (1 + e.sum(1, keepdims=True))
    assert z[0].numpy() == pytest.approx((masks * S).sum(0) / (masks.sum(0) + 1.0))


def test_batch_targets_identity_ground_truth():
    texts, t = batch_targets([['the red circle', 'the square'], ['the square', 'a star'], ['the red circle']])
    assert texts == ['the red circle', 'the square', 'a star']
    assert t.tolist() == [[1, 1, 0], [0, 1, 1], [1, 0, 0]]


def test_soft_margin_loss_hand_values():
    z = torch.tensor([[2.0, -1.0, 0.0]])
    y = torch.tensor([[1.0, 0.0, 1.0]])
    # −log σ(2) − log σ(1) − log σ(0) = log(1+e^-2) + log(1+e^-1) + log 2
    total = math.log(1 + math.e ** -2) + math.log(1 + math.e ** -1) + math.log(2)
    assert TSEGSoftMarginLoss('sum')(z, y).item() == pytest.approx(total)
    assert TSEGSoftMarginLoss('mean')(z, y).item() == pytest.approx(total / 3)
    # 'mean' equals PyTorch's MultiLabelSoftMarginLoss
    z2, y2 = torch.randn(4, 5), (torch.rand(4, 5) > 0.5).float()
    assert TSEGSoftMarginLoss('mean')(z2, y2).item() == pytest.approx(torch.nn.MultiLabelSoftMarginLoss()(z2, y2).item())


def test_dice_loss_eq9_hand_values():
    probs = torch.tensor([[[0.5, 1.0], [0.0, 0.0]]])
    gt = torch.tensor([[[1, 1], [0, 0]]])
    # 1 − 2·1.5 / (1.5 + 2) = 1 − 3/3.5
    assert TSEGDiceLoss(smooth=0.0)(probs, gt).item() == pytest.approx(1 - 3 / 3.5)
    assert TSEGDiceLoss(smooth=0.0)(gt.float(), gt).item() == pytest.approx(0.0)
