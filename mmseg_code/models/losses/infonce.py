"""Symmetric InfoNCE with a learnable temperature, gathered across ranks with gradients.

One implementation serves TCL's image-level and feature-level contrast (TCL Eq. 4-6), CoDe's region-word
alignment L_hcl (CoDe Eq. 7) and MGCA's levels.

Plain form, for local image embeddings ``v`` (``B×D``) and text embeddings ``t`` (``B×D``) on rank ``r``
of ``R`` ranks (``N = R·B`` globally, other ranks' rows gathered *with* gradients):

    s = exp(logit_scale) clamped to ≤ max_logit_scale
    L_i2t = CE( s · v̂ t̂_all^T ,  y )          (B×N logits)
    L_t2i = CE( s · t̂ v̂_all^T ,  y )          (B×N logits)
    L = ½ (L_i2t + L_t2i),    y_b = b + B·r   (labels offset by the rank)

Extended form (TCL_f, TCL Eq. 6): the image side is one embedding per (image, text) pair, ``v`` is ``B×N×D``
with ``v[b, n]`` = image b pooled under the mask of (global) text n:

    logits_i2t[b, n] = s · <v̂[b, n], t̂_all[n]>
    logits_t2i[b, n] = s · <v̂_all[n, b + B·r], t̂[b]>   (image n of any rank, under local text b)

(The official code gathers ``v[:, texts of rank r']`` from each rank r', which pairs other ranks' images with
*their* texts b + B·r' in the text→image row when R > 1; here the columns of this rank's texts are exchanged
with an all-to-all, so R ranks compute exactly the single-process loss on the global batch.)

Gathering uses torch's differentiable all-gather (its backward sums the gradients of all ranks for the local rows:
a reduce-scatter), so a DDP run (which averages gradients) is the single-process run on the global batch. Without an
initialised process group everything is local. Logits are computed in fp32 (AMP-safe).

Optional ``valid`` (``B`` bool) drops invalid rows from the mean and masks invalid columns out of every
softmax (CoDe captions with fewer than J nouns).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, get_dist_info
from mmseg.registry import MODELS
# torch's differentiable all-gather: ``torch.distributed.nn.functional.all_gather`` is deprecated (FutureWarning) in
# favour of this function of the functional collectives
from torch.distributed._functional_collectives import all_gather_single


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (same shape on every rank) over ranks along dim 0, differentiably.

    Returns ``x`` itself when not distributed. The local rows of the result are ``x`` (rank order).
    """
    _, world = get_dist_info()
    if world == 1:
        return x
    return all_gather_single(x.contiguous(), 0, dist.group.WORLD)


def exchange_columns(x: torch.Tensor) -> torch.Tensor:
    """For ``x`` ``B×(B·R)×…`` (local rows × global columns), return ``(B·R)×B×…``: every rank's rows restricted
    to *this* rank's columns, differentiably (an all-to-all; gloo falls back to gathering all of ``x``)."""
    rank, world = get_dist_info()
    if world == 1:
        return x
    b = x.shape[0]
    if dist.get_backend() == 'nccl':
        from torch.distributed.nn.functional import all_to_all
        chunks = [c.contiguous() for c in x.chunk(world, dim=1)]
        out = all_to_all([torch.empty_like(chunks[0]) for _ in range(world)], chunks)
        return torch.cat(out, dim=0)
    return gather_with_grad(x)[:, rank * b:(rank + 1) * b]


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` over ranks along dim 0 without gradients (labels, masks)."""
    _, world = get_dist_info()
    if world == 1:
        return x
    return torch.cat(all_gather(x.contiguous()), dim=0)


@MODELS.register_module()
class InfoNCE(nn.Module):
    """Symmetric InfoNCE, ½(CE_i2t + CE_t2i), with its own learnable temperature.

    Args:
        init_temperature: τ₀; ``logit_scale`` starts at log(1/τ₀) (CLIP/TCL: 0.07).
        learnable: whether ``logit_scale`` is trained.
        max_logit_scale: clamp of exp(logit_scale) (100 as CLIP/TCL).
        extended: TCL_f's extended form (image side ``B×N×D``, see the module docstring).
        normalize: L2-normalise both sides first (eps 1e-6, as the official ``us.normalize``).
        loss_weight: multiplies the returned loss.

    Forward:
        image_emb: ``B×D`` (plain) or ``B×N×D`` (extended, N = B·world).
        text_emb: ``B×D``.
        valid: optional ``B`` bool.
    Returns:
        scalar loss (fp32).
    """

    def __init__(self,
                 init_temperature: float = 0.07,
                 learnable: bool = True,
                 max_logit_scale: float = 100.0,
                 extended: bool = False,
                 normalize: bool = True,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)), requires_grad=learnable)
        self.max_logit_scale = max_logit_scale
        self.extended = extended
        self.normalize = normalize
        self.loss_weight = loss_weight

    def scale(self) -> torch.Tensor:
        return self.logit_scale.float().exp().clamp(max=self.max_logit_scale)

    def forward(self, image_emb: torch.Tensor, text_emb: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        rank, world = get_dist_info()
        image_emb, text_emb = image_emb.float(), text_emb.float()
        if self.normalize:
            image_emb = F.normalize(image_emb, dim=-1, eps=1e-6)
            text_emb = F.normalize(text_emb, dim=-1, eps=1e-6)
        b = text_emb.shape[0]
        labels = torch.arange(b, device=text_emb.device) + b * rank
        all_text = gather_with_grad(text_emb)                                    # N×D
        if self.extended:
            n = image_emb.shape[1]
            if image_emb.shape[0] != b or n != b * world:
                raise ValueError(f'Extended InfoNCE expects image_emb B×(B·world)×D = {b}×{b * world}×D, '
                                 f'got {tuple(image_emb.shape)}.')
            logits_i2t = torch.einsum('bnd,nd->bn', image_emb, all_text)
            all_here = exchange_columns(image_emb)                               # N×B×D: all images, local texts
            logits_t2i = torch.einsum('nbd,bd->bn', all_here, text_emb)
        else:
            all_image = gather_with_grad(image_emb)                              # N×D
            logits_i2t = image_emb @ all_text.t()
            logits_t2i = text_emb @ all_image.t()
        s = self.scale()
        logits_i2t, logits_t2i = s * logits_i2t, s * logits_t2i
        if valid is None:
            loss = 0.5 * (F.cross_entropy(logits_i2t, labels) + F.cross_entropy(logits_t2i, labels))
        else:
            valid = valid.to(device=text_emb.device, dtype=torch.bool)
            col_ok = gather_no_grad(valid)                                       # N
            neg_inf = torch.finfo(logits_i2t.dtype).min
            logits_i2t = logits_i2t.masked_fill(~col_ok[None], neg_inf)
            logits_t2i = logits_t2i.masked_fill(~col_ok[None], neg_inf)
            per_row = 0.5 * (F.cross_entropy(logits_i2t, labels, reduction='none') +
                             F.cross_entropy(logits_t2i, labels, reduction='none'))
            per_row = torch.where(valid, per_row, torch.zeros_like(per_row))
            # mean over the valid rows of *all* ranks, so DDP averaging gives the global-batch mean
            denom = gather_no_grad(valid.float().sum()[None]).sum() / world
            loss = per_row.sum() / denom.clamp(min=1e-6)
        return self.loss_weight * loss
