"""MaskCLIP last block (Zhou et al., ECCV 2022; chongzhou96/MaskCLIP ``backbones/vit.py``): the value path.

Attention replaced by the identity (every token attends only to itself), residual and FFN kept::

    a = out(v)                      B×N×W     (v = y·W_vᵀ + b_v, heads merged; no q, no k; out_proj)
    z = x + ls_1(a)
    z = z + ls_2(mlp(ln_2(z)))      B×N×W

This is ``BlockOps.self_only`` (:mod:`mmseg_code.models.clip.block_adapter`; ``self_attention_block`` for open_clip
blocks), the dense read-out the plugin already uses for TCL's KP branch (so MaskCLIP's scores equal that branch's
cosine maps). ClearCLIP's re-run of MaskCLIP drops the residual and the FFN (``z = a``); that variant is not this one.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .common import check_block

NAME = 'maskclip'


def forward(block: nn.Module, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The MaskCLIP last block on tokens ``x`` (``B×N×W``) → ``B×N×W`` (``grid`` unused)."""
    return check_block(block).self_only(x)
