"""Region-level alignment L^reg with hard-negative regions (MGCA Eq. 6).

For region embeddings V^r_ij (``B×N×C``: the object V^r_ii on the diagonal, the top-k_n hard-negative region of
image i for the unpaired text j elsewhere, Eq. 4) and texts T (``B×C`` local, ``N×C`` gathered):

    L^reg = −(1/B) Σ_i [ log e^{s(V^r_ii,T_i)/τ} / Σ_j e^{s(V^r_ij,T_j)/τ}
                       + log e^{s(T_i,V^r_ii)/τ} / Σ_j e^{s(T_i,V^r_ji)/τ} ]

= 2 × the plugin's *extended* ``InfoNCE`` (TCL_f form: ``logits_i2t[i, j] = s(V^r_ij, T_j)``,
``logits_t2i[i, j] = s(T_i, V^r_ji)``; across ranks the columns of this rank's texts are exchanged, so R ranks
compute exactly the single-process loss on the global batch). τ = 0.07 fixed.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from mmseg.registry import MODELS

from mmseg_code.models.losses.infonce import InfoNCE


@MODELS.register_module()
class MGCARegionLoss(nn.Module):
    """Eq. 6. Args: ``temperature`` τ (0.07, fixed), ``loss_weight`` (1.0, Eq. 8)."""

    def __init__(self, temperature: float = 0.07, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.infonce = InfoNCE(init_temperature=temperature, learnable=False, max_logit_scale=float('inf'),
                               extended=True, normalize=True, loss_weight=2.0)

    def forward(self, region_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """``region_emb`` B×N×C (V^r_ij), ``text_emb`` B×C (local T_i) → scalar."""
        return self.loss_weight * self.infonce(region_emb, text_emb)
