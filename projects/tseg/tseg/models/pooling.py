"""Global pooling of patch-text scores into image-level scores (TSEG Sec. 3.2, Eqs. 2-8).

Shapes: ``S`` is ``B×N×L`` (B images, N patches, L referring expressions), scores already scaled by the temperature.

* GAP (Eq. 2):  z_j = 1/N Σ_i s_ij
* GMP (Eq. 3):  z_j = max_i s_ij
* GWP (Eq. 4):  z_j = Σ_i w_ij s_ij,  w_ij = m_ij / (Σ_i m_ij + ε)
* SPA masks (Eq. 5):  m_ij = e^{s_ij} / (e^{s_bg} + Σ_j' e^{s_ij'})                (softmax with a background column)
* MPA masks (Eq. 6):  m_ij = e^{s_ij} / (e^{s_bg} + e^{s_ij}) = σ(s_ij − s_bg)       (one binary decision per pair)
* size penalty (Eq. 7):  z^size_j = (1 − m̄_j)^p · log(λ + m̄_j),  m̄_j = 1/N Σ_i m_ij
* final score (Eq. 8):  z_j = z^GWP_j + z^size_j

GAP/GMP/SPA are the paper's baselines (Table 3); MPA is TSEG.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from mmseg.registry import MODELS

POOLINGS = ('mpa', 'spa', 'gap', 'gmp')


def mpa_masks(scores: torch.Tensor, s_bg: float = 0.0) -> torch.Tensor:
    """Eq. 6, multi-label patch assignment: ``σ(s − s_bg)``, same shape as ``scores`` (``…×N×L``)."""
    return torch.sigmoid(scores - s_bg)


def spa_masks(scores: torch.Tensor, s_bg: float = 0.0) -> torch.Tensor:
    """Eq. 5, single-label patch assignment: softmax over ``[s_bg, s_1..s_L]`` per patch, background dropped.

    ``scores``: ``…×N×L`` → masks ``…×N×L`` whose rows sum to ``1 − m_bg`` (< 1).
    """
    bg = scores.new_full(scores.shape[:-1] + (1, ), s_bg)
    return torch.softmax(torch.cat([bg, scores], dim=-1), dim=-1)[..., 1:]


def gwp(scores: torch.Tensor, masks: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Eq. 4, global weighted pooling over patches: ``Σ_i m_ij s_ij / (Σ_i m_ij + ε)``; ``…×N×L`` → ``…×L``."""
    return (masks * scores).sum(dim=-2) / (masks.sum(dim=-2) + eps)


def size_penalty(masks: torch.Tensor, lam: float = 0.01, p: float = 5.0) -> torch.Tensor:
    """Eq. 7: ``(1 − m̄)^p · log(λ + m̄)`` with ``m̄`` the patch mean of the masks; ``…×N×L`` → ``…×L``.

    With λ = 0 an empty mask gives −inf; the mean is clamped at 1e-12 inside the log only in that case.
    """
    mean = masks.mean(dim=-2)
    inner = lam + mean if lam > 0 else mean.clamp_min(1e-12)
    return (1.0 - mean).pow(p) * torch.log(inner)


@MODELS.register_module()
class MPAPooling(nn.Module):
    """Patch-text scores ``B×N×L`` → image-text scores ``z`` ``B×L`` and patch masks ``M`` ``B×N×L``.

    Args:
        mode: ``'mpa'`` (TSEG, Eq. 6), ``'spa'`` (Eq. 5), ``'gap'`` (Eq. 2) or ``'gmp'`` (Eq. 3).
        s_bg: the constant background score (paper: 0).
        eps: ε of GWP (paper: "ε > 0", value not given; 1 as in the SPA reference code).
        lam, p: size-penalty λ and p (paper's best, Table 2a: λ = 0.01, p = 5). Only for 'mpa'/'spa'.
        size_penalty: add Eq. 7 to the GWP score (Eq. 8); only for 'mpa'/'spa'.
    """

    def __init__(self, mode: str = 'mpa', s_bg: float = 0.0, eps: float = 1.0, lam: float = 0.01, p: float = 5.0,
                 size_penalty: bool = True) -> None:
        super().__init__()
        if mode not in POOLINGS:
            raise ValueError(f'mode must be one of {POOLINGS}, got {mode!r}')
        self.mode, self.s_bg, self.eps, self.lam, self.p = mode, float(s_bg), float(eps), float(lam), float(p)
        self.use_size_penalty = bool(size_penalty)

    def masks(self, scores: torch.Tensor) -> torch.Tensor:
        """Patch masks ``M`` (``…×N×L``) used for pooling and, at test time, for segmentation.

        GAP/GMP have no assignment; their masks are CAM-style: scores min-max normalised over patches (as [2]).
        """
        if self.mode == 'mpa':
            return mpa_masks(scores, self.s_bg)
        if self.mode == 'spa':
            return spa_masks(scores, self.s_bg)
        lo = scores.amin(dim=-2, keepdim=True)
        hi = scores.amax(dim=-2, keepdim=True)
        return (scores - lo) / (hi - lo).clamp_min(1e-6)

    def forward(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``scores`` ``B×N×L`` → ``(z B×L, M B×N×L)`` (Eq. 8 for MPA/SPA, Eq. 2/3 for GAP/GMP)."""
        if self.mode == 'gap':
            return scores.mean(dim=-2), self.masks(scores)
        if self.mode == 'gmp':
            return scores.amax(dim=-2), self.masks(scores)
        masks = self.masks(scores)
        z = gwp(scores, masks, self.eps)
        if self.use_size_penalty:
            z = z + size_penalty(masks, self.lam, self.p)
        return z, masks

    def extra_repr(self) -> str:
        return f'mode={self.mode}, s_bg={self.s_bg}, eps={self.eps}, lam={self.lam}, p={self.p}'
