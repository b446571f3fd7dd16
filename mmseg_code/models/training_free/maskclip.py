"""MaskCLIP last block (Zhou et al., ECCV 2022; chongzhou96/MaskCLIP ``backbones/vit.py``): the value path.

Attention replaced by the identity (every token attends only to itself), residual and FFN kept::

    a = out_proj(v)                 B×N×W     (v = y·W_vᵀ + b_v, heads merged; no q, no k)
    z = x + ls_1(a)
    z = z + ls_2(mlp(ln_2(z)))      B×N×W

This is :func:`mmseg_code.models.clip.image_encoder.self_attention_block`, the dense read-out the plugin already uses
for TCL's KP branch (so MaskCLIP's scores equal that branch's cosine maps). ClearCLIP's re-run of MaskCLIP drops the
residual and the FFN (``z = a``); that variant is not this one.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..clip.image_encoder import self_attention_block
from .common import check_block

NAME = 'maskclip'


def forward(block: nn.Module, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The MaskCLIP last block on tokens ``x`` (``B×N×W``) → ``B×N×W`` (``grid`` unused)."""
    check_block(block)
    return self_attention_block(block, x)
