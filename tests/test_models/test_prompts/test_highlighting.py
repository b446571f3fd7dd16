"""Region (Eq. 4) and word (Eq. 5) highlighting prompts."""
import pytest
import torch

from mmseg.registry import MODELS
from mmseg_code.models.prompts.highlighting import RegionHighlightPrompt, WordHighlightPrompt


def test_eq4_edge_cases_and_nearest_upsampling():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    hv = MODELS.build(dict(type='RegionHighlightPrompt', size=(4, 4)))
    assert hv.prompt.shape == (1, 3, 4, 4) and hv.prompt.requires_grad
    torch.testing.assert_close(hv(x, torch.ones(2, 1, 2, 2)), x)  # M = 1 → X
    assert torch.equal(hv(x, torch.zeros(2, 1, 2, 2)), torch.zeros(2, 3, 8, 8))  # M = 0, P = 0 → blank
    with torch.no_grad():
        hv.prompt.fill_(0.7)  # a constant prompt stays constant under bilinear resizing
    m = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]]).expand(2, 1, 2, 2)
    out = hv(x, m)
    # nearest ×4: top-left and bottom-right 4×4 quadrants keep X, the others are P
    torch.testing.assert_close(out[:, :, :4, :4], x[:, :, :4, :4])
    torch.testing.assert_close(out[:, :, 4:, 4:], x[:, :, 4:, 4:])
    torch.testing.assert_close(out[:, :, :4, 4:], torch.full((2, 3, 4, 4), 0.7))
    torch.testing.assert_close(out[:, :, 4:, :4], torch.full((2, 3, 4, 4), 0.7))


def test_eq4_prompt_bilinear_resize_and_soft_mask():
    hv = RegionHighlightPrompt(size=(2, 2))
    with torch.no_grad():
        hv.prompt.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 1, 2, 2).expand(1, 3, 2, 2))
    x = torch.ones(1, 3, 2, 2)
    out = hv(x, torch.full((1, 1, 2, 2), 0.25))  # same size: no resizing, soft mask
    torch.testing.assert_close(out[0, 0], 0.25 + 0.75 * torch.tensor([[0.0, 1.0], [2.0, 3.0]]))
    big = hv(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4))[0, 0]
    # bilinear, align_corners=False, 2 → 4: corners keep the corner values, inner samples interpolate by 1/4, 3/4
    torch.testing.assert_close(big[0], torch.tensor([0.0, 0.25, 0.75, 1.0]))
    torch.testing.assert_close(big[:, 0], torch.tensor([0.0, 0.5, 1.5, 2.0]))


def test_eq4_gradients_and_blank_option():
    x = torch.randn(2, 3, 8, 8)
    m = torch.rand(2, 1, 4, 4, requires_grad=True)
    hv = RegionHighlightPrompt(size=(8, 8))
    hv(x, m).sum().backward()
    assert hv.prompt.grad is not None and m.grad is not None
    off = RegionHighlightPrompt(size=(8, 8), learnable=False)
    assert not off.prompt.requires_grad
    out = off(x, m.detach())
    assert not out.requires_grad
    torch.testing.assert_close(out, x * torch.nn.functional.interpolate(m.detach(), size=(8, 8)))


def _ids_and_eot():
    # two captions, L = 8: SOT w w EOT pad… and SOT w w w w EOT pad pad
    eot = torch.tensor([3, 5])
    return eot


def test_eq5_edge_cases_and_special_tokens():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 4)
    eot = _ids_and_eot()
    ht = MODELS.build(dict(type='WordHighlightPrompt', length=8, width=4))
    assert ht.prompt.shape == (8, 4)
    torch.testing.assert_close(ht(x, torch.ones(2, 8), eot), x)  # M = 1 → X
    with torch.no_grad():
        ht.prompt.copy_(torch.arange(32.0).view(8, 4))
    out = ht(x, torch.zeros(2, 8), eot)  # M = 0 → P except SOT, EOT and after
    for b, e in enumerate(eot.tolist()):
        torch.testing.assert_close(out[b, 0], x[b, 0])
        torch.testing.assert_close(out[b, 1:e], ht.prompt[1:e].detach())
        torch.testing.assert_close(out[b, e:], x[b, e:])
    half = ht(x, torch.full((2, 8), 0.5), eot)
    torch.testing.assert_close(half[0, 1], 0.5 * x[0, 1] + 0.5 * ht.prompt[1].detach())


def test_eq5_single_vector_mode_and_blank():
    x = torch.randn(2, 8, 4)
    eot = _ids_and_eot()
    single = WordHighlightPrompt(length=8, width=4, mode='single')
    assert single.prompt.shape == (1, 4)
    with torch.no_grad():
        single.prompt.fill_(2.0)
    out = single(x, torch.zeros(2, 8), eot)
    torch.testing.assert_close(out[1, 1:5], torch.full((4, 4), 2.0))
    off = WordHighlightPrompt(length=8, width=4, learnable=False)
    assert not off.prompt.requires_grad
    out = off(x, torch.zeros(2, 8), eot)
    assert torch.equal(out[0, 1:3], torch.zeros(2, 4))  # zero token vectors


def test_eq5_gradients():
    x = torch.randn(2, 8, 4)
    m = torch.rand(2, 8, requires_grad=True)
    ht = WordHighlightPrompt(length=8, width=4)
    (ht(x, m, _ids_and_eot()) * torch.randn(2, 8, 4)).sum().backward()
    assert ht.prompt.grad is not None
    # no gradient to the mask where it is forced to 1 (SOT, EOT, padding)
    assert m.grad[0, 0] == 0 and (m.grad[0, 3:] == 0).all() and (m.grad[1, 5:] == 0).all()
    assert (m.grad[0, 1:3] != 0).all()
    # positions of P_t that are never used get no gradient
    assert (ht.prompt.grad[0] == 0).all() and (ht.prompt.grad[5:] == 0).all()
