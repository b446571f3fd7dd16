"""Adaptive semantic units (MGCA Sec. 3.3, inference only).

For L2-normalised pixel embeddings V̂ (``B×C×h×w``) and a g_h×g_w meta-point grid (U = g_h·g_w, default 6×6 = 36):

    P_u      = V̂ at pixel (⌊(a+½)·h/g_h⌋, ⌊(b+½)·w/g_w⌋),  u = a·g_w + b        uniform sampling, B×U×C
    A(p)     = argmax_u  V̂^p · P_u                                             most similar meta-point (cosine)
    E_u      = mean_{p : A(p) = u} V̂^p                                         unit embedding (a unit is empty only
                                                                                when its meta-point ties with an
                                                                                earlier one: argmax takes the first)
    out^p    = E_{A(p)} / ‖E_{A(p)}‖                                           B×C×h×w, classified like pixels

One assignment step (no k-means iterations), as the paper describes. With U = h·w (every pixel a meta-point)
each pixel is its own unit — the plain per-pixel inference (Table 4's "pixel" row), up to ties between
identical embeddings.
"""
from __future__ import annotations

import math
from typing import Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


def unit_grid(num_units: Union[int, Sequence[int]]) -> tuple[int, int]:
    """``36`` → (6, 6); ``(gh, gw)`` as given. An int must be a perfect square."""
    if isinstance(num_units, int):
        g = math.isqrt(num_units)
        if g * g != num_units or g < 1:
            raise ValueError(f'num_units={num_units} is not a perfect square; give the grid (g_h, g_w) instead.')
        return g, g
    gh, gw = (int(v) for v in num_units)
    if gh < 1 or gw < 1:
        raise ValueError(f'bad meta-point grid {num_units}')
    return gh, gw


def meta_point_index(h: int, w: int, grid: tuple[int, int]) -> torch.Tensor:
    """Flat pixel indices (``U``) of the uniformly sampled meta-points on an ``h×w`` map (grid clipped to h×w)."""
    gh, gw = min(grid[0], h), min(grid[1], w)
    rows = [int((a + 0.5) * h / gh) for a in range(gh)]
    cols = [int((b + 0.5) * w / gw) for b in range(gw)]
    return torch.tensor([r * w + c for r in rows for c in cols], dtype=torch.long)


def assign_to_meta_points(feats: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Assignment A ``B×h×w`` (unit index) and meta-point embeddings ``B×U×C`` of normalised ``B×C×h×w`` feats."""
    b, c, h, w = feats.shape
    flat = feats.flatten(2)                                                  # B×C×L
    idx = meta_point_index(h, w, grid).to(feats.device)
    points = flat[:, :, idx].transpose(1, 2)                                 # B×U×C
    assign = torch.einsum('buc,bcl->bul', points, flat).argmax(dim=1)        # B×L
    return assign.view(b, h, w), points


@MODELS.register_module()
class MGCASemanticUnit(nn.Module):
    """Replace every pixel embedding by the (normalised) mean embedding of its semantic unit.

    Args:
        num_units: meta-points per window: a perfect square (36 → 6×6) or a grid ``(g_h, g_w)``.
    """

    def __init__(self, num_units: Union[int, Sequence[int]] = 36) -> None:
        super().__init__()
        self.grid = unit_grid(num_units)

    def forward(self, feats: torch.Tensor, return_assignment: bool = False):
        """``feats`` B×C×h×w (L2-normalised) → unit embeddings ``B×C×h×w`` (and the assignment ``B×h×w``)."""
        b, c, h, w = feats.shape
        assign, points = assign_to_meta_points(feats, self.grid)
        u = points.shape[1]
        flat = feats.flatten(2)                                              # B×C×L
        onehot = F.one_hot(assign.flatten(1), u).to(flat.dtype)              # B×L×U
        sums = torch.bmm(flat, onehot)                                       # B×C×U
        units = F.normalize(sums / onehot.sum(1, keepdim=True).clamp(min=1), dim=1, eps=1e-6)
        out = torch.gather(units, 2, assign.flatten(1)[:, None, :].expand(b, c, h * w)).view(b, c, h, w)
        return (out, assign) if return_assignment else out
