"""Object-level alignment L^obj (MGCA Eq. 5).

For object embeddings V^r_ii (``B×C``, Eq. 4 with area k) and texts T_i (``B×C``), s = cosine, τ = 0.07 fixed:

    L^obj = −(1/B) Σ_i [ log e^{s(V^r_ii,T_i)/τ} / Σ_j e^{s(V^r_ii,T_j)/τ}
                       + log e^{s(T_i,V^r_ii)/τ} / Σ_j e^{s(T_i,V^r_jj)/τ} ]

= CE_i2t + CE_t2i, i.e. 2 × the plugin's symmetric ``InfoNCE`` (which averages the two directions) with a fixed
temperature; j runs over the global batch (texts and objects of all ranks gathered with gradients).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from mmseg.registry import MODELS

from mmseg_code.models.losses.infonce import InfoNCE


@MODELS.register_module()
class MGCAObjectLoss(nn.Module):
    """Eq. 5. Args: ``temperature`` τ (0.07, fixed), ``loss_weight`` (1.0, Eq. 8)."""

    def __init__(self, temperature: float = 0.07, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.infonce = InfoNCE(init_temperature=temperature, learnable=False, max_logit_scale=float('inf'),
                               extended=False, normalize=True, loss_weight=2.0)

    def forward(self, obj_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """``obj_emb`` B×C (V^r_ii), ``text_emb`` B×C (T_i) → scalar."""
        return self.loss_weight * self.infonce(obj_emb, text_emb)
