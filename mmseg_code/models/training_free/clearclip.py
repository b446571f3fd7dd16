"""ClearCLIP last block (Lan et al., ECCV 2024; mc-lan/ClearCLIP ``open_clip/transformer.py``,
``model_type='ClearCLIP'``, ``ignore_residual=True``): query-query attention, no residual, no FFN.

::

    A = softmax(s·q·qᵀ)             B×H×N×N   (softmax over all N keys, class token included)
    z = out_proj(A·v)               B×N×W     (replaces x: no residual, no ln_2, no FFN; no layer scale)
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .common import attend, qkv, scale

NAME = 'clearclip'


def attention_weights(q: torch.Tensor, s: float) -> torch.Tensor:
    """``softmax(s·q·qᵀ)``: ``B×H×N×d`` → ``B×H×N×N`` (fp32)."""
    q = q.float()
    return (s * q @ q.transpose(-1, -2)).softmax(-1)


def forward(block: nn.Module, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The ClearCLIP last block on tokens ``x`` (``B×N×W``) → ``B×N×W`` (``grid``: rotary embeddings
    only)."""
    q, _, v = qkv(block, x, grid)
    return attend(block, attention_weights(q, scale(block)), v)
