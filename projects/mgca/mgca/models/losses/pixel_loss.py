"""Pixel-level alignment L^pix: semi-hard positive pixel vs. hardest pixels of unpaired texts (MGCA Eq. 7).

Input: the ``B×N`` matrix P of Eq. 7's selections (``correspondence.pixel_logits``): P_ii = S⁺_ii (the
k_pix-semi-hard pixel of the object, /f), P_ij = S⁻_ij = max_p S_ij / f for j ≠ i. With τ = 0.07:

    L^pix = −(1/B) Σ_i [ log e^{P_ii/τ} / (e^{P_ii/τ} + Σ_{j≠i} e^{P_ij/τ})        (row i: image i vs texts)
                       + log e^{P_ii/τ} / (e^{P_ii/τ} + Σ_{j≠i} e^{P_ji/τ}) ]     (column i: text i vs images)

i.e. CE over the rows plus CE over the columns of P/τ. Across ranks every rank holds the rows of its images;
the columns of its own texts are fetched from all ranks with ``exchange_columns`` (differentiable), so the sum
over j is over the global batch.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import get_dist_info
from mmseg.registry import MODELS

from mmseg_code.models.losses.infonce import exchange_columns


@MODELS.register_module()
class MGCAPixelLoss(nn.Module):
    """Eq. 7. Args: ``temperature`` τ (0.07, fixed), ``loss_weight`` (1.0, Eq. 8)."""

    def __init__(self, temperature: float = 0.07, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits`` B×N (P, already divided by f) → scalar."""
        rank, _ = get_dist_info()
        b = logits.shape[0]
        logits = logits.float() / self.temperature
        labels = torch.arange(b, device=logits.device) + b * rank
        i2t = F.cross_entropy(logits, labels)
        cols = exchange_columns(logits)                       # N×B: all images, this rank's texts
        t2i = F.cross_entropy(cols.t(), labels)
        return self.loss_weight * (i2t + t2i)
