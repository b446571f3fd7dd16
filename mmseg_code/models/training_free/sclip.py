"""SCLIP last block (Wang et al., ECCV 2024; wangf3014/SCLIP ``clip/model.py`` ``custom_attn``, ``csa=True``):
correlative self-attention.

Query-query plus key-key attention (two softmaxes summed, not renormalised), residual and FFN kept::

    A = softmax(s·q·qᵀ) + softmax(s·k·kᵀ)      B×H×N×N   (softmax over all N keys, class token included)
    z = x + ls_1(out_proj(A·v))                 B×N×W
    z = z + ls_2(mlp(ln_2(z)))                  B×N×W
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .common import attend, ffn, ls1, qkv, scale

NAME = 'sclip'


def attention_weights(q: torch.Tensor, k: torch.Tensor, s: float) -> torch.Tensor:
    """``softmax(s·q·qᵀ) + softmax(s·k·kᵀ)``: ``B×H×N×d`` → ``B×H×N×N`` (fp32)."""
    q, k = q.float(), k.float()
    return (s * q @ q.transpose(-1, -2)).softmax(-1) + (s * k @ k.transpose(-1, -2)).softmax(-1)


def forward(block: nn.Module, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The SCLIP last block on tokens ``x`` (``B×N×W``) → ``B×N×W`` (``grid``: rotary embeddings only)."""
    q, k, v = qkv(block, x, grid)
    z = x + ls1(block, attend(block, attention_weights(q, k, scale(block)), v))
    return ffn(block, z)
