"""Patch-text similarity matrix (TSEG Sec. 3.1, Eq. 1).

    x̂_i = normalize(W_I x_i),  ŷ_j = normalize(W_T y_j),  S = (x̂_i · ŷ_j)_{i,j} / τ

Shapes: patch tokens ``B×N×D_I``, text tokens ``L×D_T`` → ``S`` ``B×N×L``. Cosines lie in [−1, 1]; the paper
scales them with a learnable temperature τ > 0 without giving its form. Here ``S = cos · exp(t)`` with
``t = log(1/τ)`` learnable (CLIP's parameterisation), initialised at 1/τ = ``init_scale`` and clamped at ``max_scale``.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


@MODELS.register_module()
class PatchTextSimilarity(nn.Module):
    """Linear projections to a common space, L2 normalisation, scaled cosine.

    Args:
        image_dim: D_I (384 for ViT-S/16).
        text_dim: D_T (512 for BERT-Small).
        embed_dim: common dimension (paper's default 1024, Table 2b).
        init_scale: initial 1/τ.
        max_scale: upper clamp of 1/τ.
        learnable_scale: learn τ (paper: learnable).
    """

    def __init__(self, image_dim: int, text_dim: int, embed_dim: int = 1024, init_scale: float = 10.0,
                 max_scale: float = 100.0, learnable_scale: bool = True) -> None:
        super().__init__()
        self.image_proj = nn.Linear(image_dim, embed_dim)
        self.text_proj = nn.Linear(text_dim, embed_dim)
        t = torch.tensor(math.log(init_scale))
        if learnable_scale:
            self.logit_scale = nn.Parameter(t)
        else:
            self.register_buffer('logit_scale', t)
        self.max_log_scale = math.log(max_scale)

    @property
    def scale(self) -> torch.Tensor:
        """1/τ."""
        return self.logit_scale.clamp(max=self.max_log_scale).exp()

    def embed_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """``B×N×D_I`` → unit vectors ``B×N×E``."""
        return F.normalize(self.image_proj(patches), dim=-1)

    def embed_texts(self, texts: torch.Tensor) -> torch.Tensor:
        """``L×D_T`` → unit vectors ``L×E``."""
        return F.normalize(self.text_proj(texts), dim=-1)

    def forward(self, patches: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        """Scaled similarities ``S`` ``B×N×L`` of patch tokens ``B×N×D_I`` and text tokens ``L×D_T``
        (or per-image text tokens ``B×L×D_T``)."""
        x = self.embed_patches(patches)
        y = self.embed_texts(texts)
        cos = x @ y.transpose(-1, -2)
        return cos * self.scale
