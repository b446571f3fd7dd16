"""Adaptive semantic units (MGCA Sec. 3.3): meta-point sampling, assignment, unit averaging (hand-computed)."""
import pytest
import torch
import torch.nn.functional as F

from projects.mgca.mgca.models.semantic_unit import MGCASemanticUnit, meta_point_index, unit_grid


def test_grid_and_uniform_meta_points_by_hand():
    assert unit_grid(36) == (6, 6) and unit_grid((2, 3)) == (2, 3)
    with pytest.raises(ValueError):
        unit_grid(30)
    # 6x6 map, 3x3 grid: rows/cols floor((a + 0.5) * 2) = 1, 3, 5
    assert meta_point_index(6, 6, (3, 3)).tolist() == [7, 9, 11, 19, 21, 23, 31, 33, 35]
    # 56x56 (a 448 window), 6x6: floor((a + 0.5) * 56 / 6) = 4, 14, 23, 32, 42, 51
    idx = meta_point_index(56, 56, (6, 6))
    rows = [4, 14, 23, 32, 42, 51]
    assert idx.tolist() == [r * 56 + c for r in rows for c in rows] and len(idx) == 36
    # grid larger than the map is clipped: every pixel a meta-point
    assert meta_point_index(2, 3, (6, 6)).tolist() == list(range(6))


def test_assignment_and_unit_average_by_hand():
    # 4x4 map: left half along e1, right half along e2, pixel (0, 0) = (0.8, 0.6) (closer to e1).
    feats = torch.zeros(1, 2, 4, 4)
    feats[0, 0, :, :2] = 1.0
    feats[0, 1, :, 2:] = 1.0
    feats[0, :, 0, 0] = torch.tensor([0.8, 0.6])
    # 2x2 meta-points at (1,1) e1, (1,3) e2, (3,1) e1, (3,3) e2; ties go to the first
    out, assign = MGCASemanticUnit((2, 2))(feats, return_assignment=True)
    assert assign[0].tolist() == [[0, 0, 1, 1]] * 4
    left = torch.tensor([7.8, 0.6]) / torch.tensor([7.8, 0.6]).norm()      # mean of 7 e1 and (0.8, 0.6)
    assert torch.allclose(out[0, :, :, :2], left.view(2, 1, 1).expand(2, 4, 2), atol=1e-6)
    assert torch.allclose(out[0, :, :, 2:], torch.tensor([0.0, 1.0]).view(2, 1, 1).expand(2, 4, 2), atol=1e-6)


def test_every_pixel_a_meta_point_is_per_pixel_inference():
    feats = F.normalize(torch.randn(2, 8, 5, 7), dim=1)
    out, assign = MGCASemanticUnit((5, 7))(feats, return_assignment=True)
    assert torch.equal(assign.flatten(1), torch.arange(35).expand(2, 35))
    assert torch.allclose(out, feats, atol=1e-6)
