"""L_kg (CoDe Eq. 1): official 1 − cos and paper ‖n − n'‖², masked over valid nouns."""
import numpy as np
import pytest
import torch

from mmseg.registry import MODELS
from mmseg_code.models.losses.kg_loss import KgLoss


def _unit(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def test_both_forms_against_numpy():
    rng = np.random.default_rng(0)
    n, m = _unit(rng.normal(size=(6, 8))), _unit(rng.normal(size=(6, 8)))
    cos_ref = 1 - np.mean(np.sum(n * m, axis=1))
    sq_ref = np.mean(np.sum((n - m)**2, axis=1))
    tn, tm = torch.tensor(n, dtype=torch.float32), torch.tensor(m, dtype=torch.float32)
    assert MODELS.build(dict(type='KgLoss', form='cos'))(tn, tm).item() == pytest.approx(cos_ref, abs=1e-6)
    assert KgLoss('sq')(tn, tm).item() == pytest.approx(sq_ref, abs=1e-6)
    assert sq_ref == pytest.approx(2 * cos_ref)  # unit vectors: ‖n−n'‖² = 2(1 − cos)


def test_hand_values_and_identical_inputs():
    n = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    m = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert KgLoss('cos')(n, m).item() == pytest.approx(0.5)  # (1 − 0 + 1 − 1) / 2
    assert KgLoss('sq')(n, m).item() == pytest.approx(1.0)  # (2 + 0) / 2
    assert KgLoss('cos')(n, n).item() == pytest.approx(0.0)


def test_padded_nouns_change_nothing():
    torch.manual_seed(0)
    n, m = torch.randn(4, 8), torch.randn(4, 8)
    valid = torch.tensor([True, False, True, False])
    for form in ('cos', 'sq'):
        loss = KgLoss(form)
        assert loss(n, m, valid).item() == pytest.approx(loss(n[valid], m[valid]).item(), abs=1e-6)
        assert loss(n, m, torch.zeros(4, dtype=torch.bool)).item() == 0.0


def test_gradient_only_to_n():
    n = torch.randn(3, 4, requires_grad=True)
    m = torch.randn(3, 4, requires_grad=True)
    KgLoss('cos')(n, m).backward()
    assert n.grad is not None and m.grad is None
