"""MGCA's training objective L = L^obj + L^reg + L^pix (Eq. 8) on the pixel-text similarity tensor.

For local pixel embeddings V (``B×L×C``, unnormalised decoder output) and local text embeddings T (``B×C``,
unnormalised frozen CLIP), on rank r of R (N = B·R):

    T_all = gather(T)                             N×C
    S     = V · T_allᵀ                            B×N×L        Eq. 2 (raw dot product, fp32)
    V^r_ii = object_embeddings(V, S, k)           B×C          Eq. 3-4, k = 0.4
    V^r_ij = region_embeddings(V, S, V^r_ii, k_n) B×N×C        Eq. 3-4, k_n = 0.05 off the diagonal
    P     = pixel_logits(S, k, k_pix, f)          B×N          Eq. 7, k_pix = 0.06, f = 5√C
    loss_obj = MGCAObjectLoss(V^r_ii, T)          Eq. 5
    loss_reg = MGCARegionLoss(V^r_ij, T)          Eq. 6
    loss_pix = MGCAPixelLoss(P)                   Eq. 7

Each level can be switched off (``None`` config) for the Table 3 ablations.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
from mmengine.dist import get_dist_info
from mmseg.registry import MODELS

from mmseg_code.models.losses.infonce import gather_with_grad
from ..correspondence import object_embeddings, pixel_logits, pixel_text_similarity, region_embeddings


@MODELS.register_module()
class MGCALoss(nn.Module):
    """Multi-grained cross-modal alignment (Eq. 2-8).

    Args:
        k: object area (Eq. 3), 0.4.
        k_n: hard-negative region area, 0.05.
        k_pix: semi-hard positive (Eq. 7), 0.06.
        scale: f of Eq. 7; ``None`` → 5·√C.
        loss_obj / loss_reg / loss_pix: loss configs (``None`` disables a level).
    """

    def __init__(self,
                 k: float = 0.4,
                 k_n: float = 0.05,
                 k_pix: float = 0.06,
                 scale: Optional[float] = None,
                 loss_obj: Optional[dict] = dict(type='MGCAObjectLoss', temperature=0.07, loss_weight=1.0),
                 loss_reg: Optional[dict] = dict(type='MGCARegionLoss', temperature=0.07, loss_weight=1.0),
                 loss_pix: Optional[dict] = dict(type='MGCAPixelLoss', temperature=0.07, loss_weight=1.0)) -> None:
        super().__init__()
        self.k, self.k_n, self.k_pix, self.scale = k, k_n, k_pix, scale
        self.loss_obj = MODELS.build(loss_obj) if loss_obj else None
        self.loss_reg = MODELS.build(loss_reg) if loss_reg else None
        self.loss_pix = MODELS.build(loss_pix) if loss_pix else None
        if not (self.loss_obj or self.loss_reg or self.loss_pix):
            raise ValueError('MGCALoss needs at least one of loss_obj, loss_reg, loss_pix.')

    def forward(self, pixel_emb: torch.Tensor, text_emb: torch.Tensor) -> dict:
        """``pixel_emb`` B×L×C, ``text_emb`` B×C (local) → ``dict(loss_obj=…, loss_reg=…, loss_pix=…)``."""
        rank, _ = get_dist_info()
        all_text = gather_with_grad(text_emb)
        sim = pixel_text_similarity(pixel_emb, all_text)                              # B×N×L
        losses = {}
        if self.loss_obj is not None or self.loss_reg is not None:
            obj = object_embeddings(pixel_emb, sim, self.k, rank)                     # B×C
            if self.loss_obj is not None:
                losses['loss_obj'] = self.loss_obj(obj, text_emb)
            if self.loss_reg is not None:
                regions = region_embeddings(pixel_emb, sim, obj, self.k_n, rank)      # B×N×C
                losses['loss_reg'] = self.loss_reg(regions, text_emb)
        if self.loss_pix is not None:
            f = self.scale if self.scale is not None else 5.0 * math.sqrt(pixel_emb.shape[-1])
            losses['loss_pix'] = self.loss_pix(pixel_logits(sim, self.k, self.k_pix, f, rank))
        return losses
