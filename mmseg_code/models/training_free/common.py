"""Pieces shared by the training-free last blocks: the block's q, k, v per head and the attention read-out.

Notation of every last-block module of this package, for tokens ``x`` entering the last residual block of an open_clip
``VisionTransformer`` (``B×N×W``, class token first, N = 1 + h·w, H heads of width d = W/H):

    y       = ln_1(x)                                           B×N×W
    q, k, v = split(y·W_inᵀ + b_in)  → per head                 B×H×N×d each
    s       = d^-1/2
    attend(A, v) = out_proj(merge_heads(A·v))                   A: B×H×N×N attention weights → B×N×W

Each module's ``forward(block, x, grid)`` returns the block's output tokens ``B×N×W``; the dense features are
``ln_post(z[:, 1:]) · proj`` (:func:`dense_features`), ``B×D×h×w``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...utils.options import OptionError


def check_block(block: nn.Module) -> nn.MultiheadAttention:
    """The block's ``nn.MultiheadAttention`` (open_clip ``ResidualAttentionBlock``); a clear error otherwise."""
    attn = getattr(block, 'attn', None)
    if not isinstance(attn, nn.MultiheadAttention) or not attn._qkv_same_embed_dim:
        raise OptionError(f'training-free last blocks need an open_clip ResidualAttentionBlock with a packed '
                          f'nn.MultiheadAttention, got {type(block).__name__}.')
    return attn


def qkv(block: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v of the block's attention for tokens ``x`` (``B×N×W``), each ``B×H×N×d`` (unscaled)."""
    attn = check_block(block)
    b, n, w = x.shape
    heads = attn.num_heads
    y = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)        # B×N×3W
    q, k, v = y.reshape(b, n, 3, heads, w // heads).permute(2, 0, 3, 1, 4)     # 3×B×H×N×d
    return q, k, v


def scale(block: nn.Module) -> float:
    """s = d^-1/2 of the block's heads."""
    attn = check_block(block)
    return (attn.embed_dim // attn.num_heads) ** -0.5


def attend(block: nn.Module, weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``out_proj(merge_heads(weights · v))``: ``B×H×N×N``, ``B×H×N×d`` → ``B×N×W``."""
    attn = check_block(block)
    o = weights.to(v.dtype) @ v                                                 # B×H×N×d
    b, h, n, d = o.shape
    return attn.out_proj(o.transpose(1, 2).reshape(b, n, h * d))


def ffn(block: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The block's second residual branch: ``z + ls_2(mlp(ln_2(z)))``."""
    return z + block.ls_2(block.mlp(block.ln_2(z)))
