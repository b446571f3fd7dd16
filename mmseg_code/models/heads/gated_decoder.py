"""TCL's gated convolutional decoder (GDecoder), the upsampling part of the image segmenter F_v.

Each of ``n_layers`` stages (TCL Sec. 3.2):

    x ← Up×2_nearest(x)
    x ← x + tanh(g₁) · Conv3×3(GELU(LN2d(x)))            (one gated block, CoDe's official ``double=False``)
    x ← x + tanh(g₂) · Conv3×3(GELU(LN2d(x)))            (a second block when ``double=True``, TCL)

Shapes: ``B×C×h×w`` → ``B×C×(2^n·h)×(2^n·w)``; channels are kept (768 for ViT-B/16). The gates g start at 0,
so an untrained decoder is plain nearest upsampling and the masker starts as MaskCLIP.

Implementation: the first block of each stage reads a nearest-upsampled map, so it runs at the low resolution as
four 2×2 "phase" convolutions (:meth:`GatedConvBlock.forward_upsampled`): the same function (fp32 rounding aside)
with 16 instead of 36 multiply-adds per low-resolution pixel and channel pair, LN/GELU on 4× fewer pixels.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from timm.layers import LayerNorm2d


class GatedConvBlock(nn.Module):
    """Residual branch ``tanh(g) · Conv_k×k(GELU(LN2d(x)))`` with a scalar gate g (init 0).

    Returns only the branch; the caller adds it to x. Parameters for C=768, k=3: 5,310,721.
    """

    def __init__(self, channels: int, kernel_size: int = 3, gate_init: float = 0.0) -> None:
        super().__init__()
        self.norm = LayerNorm2d(channels, eps=1e-5)     # timm's: LayerNorm over the channels of each pixel
        self.act = nn.GELU()
        self.conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, bias=True)
        self.gate = nn.Parameter(torch.tensor(float(gate_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.gate) * self.conv(self.act(self.norm(x)))

    def forward_upsampled(self, x: torch.Tensor) -> torch.Tensor:
        """``u + forward(u)`` for ``u = Up×2_nearest(x)``, computed at the resolution of ``x`` (same values up to
        fp32 rounding, 2.25× fewer MACs).

        LN2d and GELU act per pixel, so they commute with nearest upsampling; a k×k conv (k = 3, padding 1) of a
        ×2 nearest-upsampled map is, for each of the 4 output phases (py, px), a 2×2 conv of the low-resolution
        map whose taps are sums of the kernel's rows/columns falling on the same source pixel (zero padding at
        the high-resolution border is zero padding at the low-resolution border). 4 phases × 4 taps = 16 taps per
        low-resolution pixel instead of 4 × 9 = 36. Each phase, plus the residual x (u's value at every phase),
        is written straight into its strided slot of the output (one pass, no stack/permute copies).
        """
        conv = self.conv
        if conv.kernel_size != (3, 3) or conv.padding != (1, 1) or conv.stride != (1, 1) or conv.dilation != (1, 1) \
                or conv.groups != 1 or conv.padding_mode != 'zeros':
            u = F.interpolate(x, scale_factor=2, mode='nearest')
            return u + self.forward(u)
        z = F.pad(self.act(self.norm(x)), (1, 1, 1, 1))
        wt = conv.weight.to(z.dtype)                                   # C'×C×3×3
        # rows: phase 0 reads source offsets (-1, 0) ← kernel rows (0, 1+2); phase 1 reads (0, +1) ← (0+1, 2)
        rows = (torch.stack([wt[:, :, 0], wt[:, :, 1] + wt[:, :, 2]], dim=2),
                torch.stack([wt[:, :, 0] + wt[:, :, 1], wt[:, :, 2]], dim=2))          # C'×C×2×3 each
        b, c, h, w = x.shape
        bias = None if conv.bias is None else conv.bias.to(z.dtype)
        gate = torch.tanh(self.gate).to(z.dtype)
        out = z.new_empty(b, c, h, 2, w, 2)            # B×C×(2h)×(2w) viewed by phase (py, px)
        for py in (0, 1):
            wr = rows[py]
            for px in (0, 1):                          # four separate convs measured faster than one 4C' conv
                if px == 0:
                    wk = torch.stack([wr[..., 0], wr[..., 1] + wr[..., 2]], dim=-1)
                else:
                    wk = torch.stack([wr[..., 0] + wr[..., 1], wr[..., 2]], dim=-1)     # C'×C×2×2
                phase = F.conv2d(z[:, :, py:py + h + 1, px:px + w + 1], wk, bias)
                out[:, :, :, py, :, px] = x + gate * phase
        return out.view(b, c, 2 * h, 2 * w)


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
            # the first block reads the upsampled map: computed at low resolution (GatedConvBlock.forward_upsampled)
            x = blocks[0].forward_upsampled(x)
            for block in blocks[1:]:
                x = x + block(x)
        return x

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The plain formulation (upsample, then every block at the high resolution); equal to :meth:`forward`."""
        for blocks in self.stages:
            x = F.interpolate(x, scale_factor=2, mode='nearest')
            for block in blocks:
                x = x + block(x)
        return x
