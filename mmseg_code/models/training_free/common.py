"""Pieces shared by the training-free last blocks: the block's q, k, v per head and the attention read-out.

Notation of every last-block module of this package, for tokens ``x`` entering the last residual block of a ViT
(``B×N×W``, P prefix tokens first — one class token for open_clip ViTs and EVA02, none for SigLIP — then the h·w
patches, N = P + h·w; H heads of width d = W/H). The block is read through
:func:`mmseg_code.models.clip.block_adapter.block_ops` (open_clip ``ResidualAttentionBlock`` or a timm ViT block)::

    y       = norm1(x)                                          B×N×W   (open_clip: ln_1)
    q, k, v = W_{q,k,v}·y + b  → per head (q_norm/k_norm, RoPE)  B×H×N×d each
    s       = d^-1/2
    attend(A, v) = out(merge_heads(A·v))                        A: B×H×N×N attention weights → B×N×W
                                                                (out: out_proj, or timm's inner norm + proj)

Each module's ``forward(block, x, grid)`` returns the block's output tokens ``B×N×W``; the dense features are the
encoder's per-token projection of ``z[:, P:]`` (``ln_post(·)·proj`` for open_clip ViTs), ``B×D×h×w``.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..clip.block_adapter import BlockOps, block_ops


def check_block(block: nn.Module) -> BlockOps:
    """The block's :class:`~mmseg_code.models.clip.block_adapter.BlockOps`; a one-line OptionError otherwise."""
    return block_ops(block)


def qkv(block: nn.Module, x: torch.Tensor, grid=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v of the block's attention for tokens ``x`` (``B×N×W``), each ``B×H×N×d`` (unscaled; q/k normed and
    rotated where the block does so — rotary embeddings need ``grid``)."""
    return block_ops(block).qkv(x, grid)


def scale(block: nn.Module) -> float:
    """s = d^-1/2 of the block's heads."""
    return block_ops(block).scale


def num_prefix_tokens(block: nn.Module) -> int:
    """P, the prefix tokens (class / register) before the patches."""
    return block_ops(block).num_prefix_tokens


def attend(block: nn.Module, weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``out(merge_heads(weights · v))``: ``B×H×N×N``, ``B×H×N×d`` → ``B×N×W``."""
    return block_ops(block).attend(weights, v)


def ls1(block: nn.Module, a: torch.Tensor) -> torch.Tensor:
    """The block's first layer scale (identity without one)."""
    return block_ops(block).ls1(a)


def ffn(block: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The block's second residual branch: ``z + ls_2(mlp(ln_2(z)))``."""
    return block_ops(block).ffn(z)
