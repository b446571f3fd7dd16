"""NACLIP last block (Hajimiri et al., WACV 2025; sinahmr/NACLIP ``clip/model.py`` ``custom_attn``,
``gaussian_window``, ``arch='reduced'``, ``attn_strategy='naclip'``): key-key attention with a neighbourhood
Gaussian prior, no residual, no FFN.

::

    Ω[p, p'] = exp(−‖pos_p − pos_p'‖² / (2σ²))     N×N   pos = (row, column) on the h×w patch grid, σ = 5 patches;
                                                          peak 1, not normalised; prefix-token (class) rows
                                                          and columns 0
    A = softmax(s·k·kᵀ + Ω)                        B×H×N×N   (the prior is added to every head's logits)
    z = out_proj(A·v)                              B×N×W     (replaces x: no residual, no ln_2, no FFN)
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .common import attend, num_prefix_tokens, qkv, scale

NAME = 'naclip'
DEFAULT_SIGMA = 5.0


def gaussian_window(grid: tuple[int, int], sigma: float = DEFAULT_SIGMA, device=None,
                    num_prefix: int = 1) -> torch.Tensor:
    """Ω of the module docstring, ``N×N`` with N = P + h·w (P = ``num_prefix`` prefix tokens; fp32)."""
    h, w = grid
    rows, cols = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                                torch.arange(w, device=device, dtype=torch.float32), indexing='ij')
    pos = torch.stack([rows.flatten(), cols.flatten()], dim=1)                 # (h·w)×2
    omega = torch.exp(-torch.cdist(pos, pos).square() / (2 * sigma ** 2))
    n = num_prefix + h * w
    out = torch.zeros(n, n, device=device)
    out[num_prefix:, num_prefix:] = omega
    return out


def attention_weights(k: torch.Tensor, s: float, omega: torch.Tensor) -> torch.Tensor:
    """``softmax(s·k·kᵀ + Ω)``: ``B×H×N×d``, ``N×N`` → ``B×H×N×N`` (fp32)."""
    k = k.float()
    return (s * k @ k.transpose(-1, -2) + omega).softmax(-1)


def forward(block: nn.Module, x: torch.Tensor, grid: tuple[int, int], sigma: float = DEFAULT_SIGMA) -> torch.Tensor:
    """The NACLIP last block on tokens ``x`` (``B×N×W``, N = P + h·w for ``grid = (h, w)``) → ``B×N×W``."""
    p = num_prefix_tokens(block)
    if x.shape[1] != p + grid[0] * grid[1]:
        raise ValueError(f'NACLIP: {x.shape[1]} tokens do not match the grid {grid} ({p} + h·w expected).')
    _, k, v = qkv(block, x, grid)
    return attend(block, attention_weights(k, scale(block), gaussian_window(grid, sigma, x.device, p)), v)
