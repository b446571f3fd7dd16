"""TCL's gated convolutional decoder (GDecoder), the upsampling part of the image segmenter F_v.

Each of ``n_layers`` stages (TCL Sec. 3.2):

    x ← Up×2_nearest(x)
    x ← x + tanh(g₁) · Conv3×3(GELU(LN2d(x)))            (one gated block, CoDe's official ``double=False``)
    x ← x + tanh(g₂) · Conv3×3(GELU(LN2d(x)))            (a second block when ``double=True``, TCL)

Shapes: ``B×C×h×w`` → ``B×C×(2^n·h)×(2^n·w)``; channels are kept (768 for ViT-B/16). The gates g start at 0,
so an untrained decoder is plain nearest upsampling and the masker starts as MaskCLIP.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of each pixel of a ``B×C×H×W`` map (eps 1e-5)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GatedConvBlock(nn.Module):
    """Residual branch ``tanh(g) · Conv_k×k(GELU(LN2d(x)))`` with a scalar gate g (init 0).

    Returns only the branch; the caller adds it to x. Parameters for C=768, k=3: 5,310,721.
    """

    def __init__(self, channels: int, kernel_size: int = 3, gate_init: float = 0.0) -> None:
        super().__init__()
        self.norm = LayerNorm2d(channels)
        self.act = nn.GELU()
        self.conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, bias=True)
        self.gate = nn.Parameter(torch.tensor(float(gate_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.gate) * self.conv(self.act(self.norm(x)))


@MODELS.register_module()
class GatedDecoder(BaseModule):
    """GDecoder: ``n_layers`` × [nearest up×2, 1 (or 2 with ``double``) gated residual conv blocks].

    Args:
        channels: C, in and out channels (CLIP ViT width).
        n_layers: number of ×2 upsampling stages (2 → stride 16 becomes stride 4).
        double: two gated blocks per stage (TCL: True, 4 blocks; CoDe official: False, 2 blocks).
        kernel_size: conv kernel (3).
        gate_init: initial gate value g (0 → identity branch at init).
    """

    def __init__(self,
                 channels: int,
                 n_layers: int = 2,
                 double: bool = True,
                 kernel_size: int = 3,
                 gate_init: float = 0.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.n_layers = n_layers
        self.double = double
        per_stage = 2 if double else 1
        self.stages = nn.ModuleList(
            nn.ModuleList(GatedConvBlock(channels, kernel_size, gate_init) for _ in range(per_stage))
            for _ in range(n_layers))

    @property
    def scale(self) -> int:
        return 2 ** self.n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B×C×h×w`` → ``B×C×(2^n h)×(2^n w)``."""
        for blocks in self.stages:
            x = F.interpolate(x, scale_factor=2, mode='nearest')
            for block in blocks:
                x = x + block(x)
        return x
