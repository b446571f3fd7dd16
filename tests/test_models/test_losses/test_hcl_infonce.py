"""L_hcl (CoDe Eq. 7) through the shared InfoNCE, against a direct numpy computation."""
import math

import numpy as np
import pytest
import torch

from mmseg.registry import MODELS

import mmseg_code.models.losses.infonce  # noqa: F401  (registers InfoNCE)


def _eq7(ev, et, tau):
    """Eq. 7 written out: S_ij = cos(e^v_i, e^t_j), −1/2B Σ log softmax_row(S/τ)_ii − 1/2B Σ log softmax_col(S/τ)_ii."""
    ev = ev / np.linalg.norm(ev, axis=1, keepdims=True)
    et = et / np.linalg.norm(et, axis=1, keepdims=True)
    s = ev @ et.T / tau
    b = s.shape[0]
    i2t = sum(np.log(np.exp(s[i, i]) / np.exp(s[i]).sum()) for i in range(b))
    t2i = sum(np.log(np.exp(s[i, i]) / np.exp(s[:, i]).sum()) for i in range(b))
    return -i2t / (2 * b) - t2i / (2 * b)


def test_eq7_against_numpy():
    rng = np.random.default_rng(0)
    ev, et = rng.normal(size=(6, 16)), rng.normal(size=(6, 16))
    loss = MODELS.build(dict(type='InfoNCE', init_temperature=0.07))
    got = loss(torch.tensor(ev, dtype=torch.float32), torch.tensor(et, dtype=torch.float32))
    assert got.item() == pytest.approx(_eq7(ev, et, 0.07), rel=1e-5)
    with torch.no_grad():
        loss.logit_scale.fill_(math.log(1 / 0.5))
    got = loss(torch.tensor(ev, dtype=torch.float32), torch.tensor(et, dtype=torch.float32))
    assert got.item() == pytest.approx(_eq7(ev, et, 0.5), rel=1e-5)


def test_eq7_invalid_triplets_equal_dropping_them():
    rng = np.random.default_rng(1)
    ev, et = rng.normal(size=(8, 16)), rng.normal(size=(8, 16))
    valid = np.array([True, True, False, True, False, True, True, True])
    loss = MODELS.build(dict(type='InfoNCE'))
    got = loss(torch.tensor(ev, dtype=torch.float32), torch.tensor(et, dtype=torch.float32), torch.tensor(valid))
    assert got.item() == pytest.approx(_eq7(ev[valid], et[valid], 0.07), rel=1e-5)


def test_temperature_is_learnable():
    loss = MODELS.build(dict(type='InfoNCE'))
    ev = torch.randn(4, 8, requires_grad=True)
    loss(ev, torch.randn(4, 8)).backward()
    assert loss.logit_scale.grad is not None and ev.grad is not None
