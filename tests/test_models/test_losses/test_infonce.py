"""InfoNCE (plain and TCL_f's extended form) against direct numpy computations, and the 2-rank gathered case."""
import math

import numpy as np
import pytest
import torch

from mmseg_code.models.losses.infonce import InfoNCE


def _norm(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _ce(logits, labels):
    out = 0.0
    for row, y in zip(logits, labels):
        m = row.max()
        out += -(row[y] - m - math.log(np.exp(row - m).sum()))
    return out / len(labels)


def _plain_np(v, t, scale):
    v, t = _norm(v), _norm(t)
    s = scale * v @ t.T
    y = np.arange(len(v))
    return 0.5 * (_ce(s, y) + _ce(s.T, y))


def _extended_np(v, t, scale):
    """v: B×B×D (image b under text n), t: B×D."""
    v, t = _norm(v), _norm(t)
    b = len(t)
    i2t = np.array([[scale * v[i, n] @ t[n] for n in range(b)] for i in range(b)])
    t2i = np.array([[scale * v[n, i] @ t[i] for n in range(b)] for i in range(b)])
    y = np.arange(b)
    return 0.5 * (_ce(i2t, y) + _ce(t2i, y))


def test_plain_against_numpy_and_init():
    rng = np.random.default_rng(0)
    v, t = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    loss = InfoNCE()
    assert loss.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    got = loss(torch.tensor(v, dtype=torch.float32), torch.tensor(t, dtype=torch.float32))
    assert got.item() == pytest.approx(_plain_np(v, t, 1 / 0.07), rel=1e-5)


def test_logit_scale_clamped_at_100():
    rng = np.random.default_rng(1)
    v, t = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    loss = InfoNCE()
    with torch.no_grad():
        loss.logit_scale.fill_(math.log(1000.0))
    got = loss(torch.tensor(v, dtype=torch.float32), torch.tensor(t, dtype=torch.float32))
    assert got.item() == pytest.approx(_plain_np(v, t, 100.0), rel=1e-5)


def test_extended_against_numpy():
    rng = np.random.default_rng(2)
    v, t = rng.normal(size=(4, 4, 8)), rng.normal(size=(4, 8))
    loss = InfoNCE(extended=True)
    got = loss(torch.tensor(v, dtype=torch.float32), torch.tensor(t, dtype=torch.float32))
    assert got.item() == pytest.approx(_extended_np(v, t, 1 / 0.07), rel=1e-5)
    with pytest.raises(ValueError, match='Extended InfoNCE'):
        loss(torch.randn(4, 3, 8), torch.randn(4, 8))


def test_bf16_autocast_inputs_give_fp32_loss():
    v, t = torch.randn(4, 8), torch.randn(4, 8)
    loss = InfoNCE()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = loss(v.bfloat16(), t.bfloat16())
    assert got.dtype == torch.float32 and torch.isfinite(got)

# The gathered 2-rank case runs in tests/test_engine/test_unfreeze_hook.py (one process launch for both).
