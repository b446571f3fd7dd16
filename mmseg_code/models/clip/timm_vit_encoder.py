"""CLIP image encoder E_v for open_clip ``TimmModel`` towers with a timm ViT trunk: SigLIP / SigLIP2 (timm
``VisionTransformer``, no class token, MAP attention-pool head) and EVA02 (timm ``Eva``: class token, rotary position
embeddings, ``head`` projection). The same interface as :class:`~.image_encoder.CLIPImageEncoder`.

Tokens (P prefix tokens — class / register; P = 0 for SigLIP, 1 for EVA02 — then the h·w patches, N = P + h·w)::

    X_0   = norm_pre([prefix; patch_norm(conv_p(x))] + pos)     B×N×W   pos: the trunk's absolute position embedding,
                                                                       resized bicubically for an h×w grid (timm's
                                                                       ``resample_abs_pos_embed``); EVA02 also rotates
                                                                       q, k of the patches by RoPE built for h×w
                                                                       (``block_adapter.rope_for_grid``)
    X     = Block_{L-1}(…Block_1(X_0))                          B×N×W   :meth:`forward_features` (TCL's masker input)

Per-token projection ``T(u)`` (:class:`TokenHead`, :meth:`project`), ``…×W → …×D``: the trunk's final ``norm``, then
the pooling head read per token, then timm's ``fc_norm`` / ``head`` and open_clip's ``head`` (``proj`` / ``mlp``)::

    u'    = norm(u)
    SigLIP, attention pool (``AttentionPoolLatent``; its value/output path, :func:`pool_value_path`):
    a     = proj(W_v·u' + b_v)                                  W_v, b_v: the v half (rows W..2W) of the pool's ``kv``
    u''   = a + mlp(norm_pool(a))                               the pool's own norm/MLP residual
    T(u)  = clip_head(head(fc_norm(u'')))                       (identity where absent)

This is what the pool returns when its latent query attends only to that token (softmax weight 1), as MaskCLIP reads a
CLIP attention pool (``resnet_encoder``). Without an attention pool (EVA02: class-token pooling) ``u'' = u'``.

Read-outs:

* :meth:`encode_image` — the trunk's own ``forward_head`` on all blocks' tokens, then open_clip's ``head``: ``B×D``.
* :meth:`dense_from_tokens` — MaskCLIP: the last block with each token attending only to itself
  (``BlockOps.self_only``), ``T`` per patch token: ``B×D×h×w``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed
from torch.utils.checkpoint import checkpoint

from ...utils.tool import UserError
from .block_adapter import TimmViTBlock, block_ops
from .image_encoder import CLIPFeatures, pad_to_patch

TIMM_VIT_TRUNKS = ('VisionTransformer', 'Eva')


def pool_value_path(pool: nn.Module, u: torch.Tensor) -> torch.Tensor:
    """The value/output path of a timm ``AttentionPoolLatent`` per token (module docstring):
    ``a = proj(W_v·u + b_v)``, ``a + mlp(norm(a))``; ``…×W`` → ``…×D_pool``."""
    e = pool.kv.out_features // 2
    bias = pool.kv.bias[e:] if pool.kv.bias is not None else None
    a = pool.proj(F.linear(u, pool.kv.weight[e:], bias))
    if pool.mlp is not None:
        a = a + pool.mlp(pool.norm(a))
    return a


class TokenHead(nn.Module):
    """``T(u)`` of the module docstring: ``norm`` → [attention pool's value path] → ``fc_norm`` → ``head`` → open_clip
    ``head``, per token ``…×W → …×D``. Holds the trunk's modules (a deep copy is TCL's trainable projection)."""

    def __init__(self, norm: nn.Module, attn_pool: Optional[nn.Module], fc_norm: nn.Module, head: nn.Module,
                 clip_head: nn.Module) -> None:
        super().__init__()
        self.norm = norm
        self.attn_pool = attn_pool
        self.fc_norm = fc_norm
        self.head = head
        self.clip_head = clip_head

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u = self.norm(u)
        if self.attn_pool is not None:
            u = pool_value_path(self.attn_pool, u)
        return self.clip_head(self.head(self.fc_norm(u)))


def check_timm_vit(visual: nn.Module) -> nn.Module:
    """The timm trunk of an open_clip ``TimmModel`` this encoder reads; a one-line UserError otherwise."""
    trunk = getattr(visual, 'trunk', None)
    kind = type(trunk).__name__
    if kind not in TIMM_VIT_TRUNKS:
        raise UserError(f'CLIPTimmViTEncoder needs an open_clip TimmModel with a timm VisionTransformer or Eva trunk '
                        f'(SigLIP, SigLIP2, EVA02), got {kind}.')
    if getattr(trunk, 'rope_mixed', False) or (getattr(trunk, 'rope', None) is not None
                                               and type(trunk.rope).__name__ != 'RotaryEmbeddingCat'):
        raise UserError(f'timm {kind} with {type(trunk.rope).__name__} rotary embeddings is not supported: the dense '
                        f'read-outs rebuild EVA02-style RotaryEmbeddingCat tables for other grids only.')
    pool = getattr(trunk, 'attn_pool', None)
    if pool is not None and (type(pool).__name__ != 'AttentionPoolLatent' or pool.pos_embed is not None):
        raise UserError(f'timm {kind} with attention pool {type(pool).__name__} (or its own position embedding) is '
                        f'not supported: the dense read-out is the value path of a SigLIP AttentionPoolLatent.')
    if any(name in ('pool', 'mlp_pool') for name, _ in visual.head.named_children()):
        raise UserError("open_clip TimmModel with timm_pool 'abs_attn'/'rot_attn' on a ViT trunk is not supported.")
    for blk in trunk.blocks:
        block_ops(TimmViTBlock(blk, trunk.num_prefix_tokens))               # one line for an unsupported block
    return trunk


class CLIPTimmViTEncoder(nn.Module):
    """Frozen open_clip timm-ViT image tower (SigLIP, SigLIP2, EVA02) with dense read-outs (module docstring).

    Args:
        visual: an open_clip ``TimmModel`` whose ``trunk`` is a timm ``VisionTransformer`` or ``Eva``.
    """

    is_vit = True

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        trunk = check_timm_vit(visual)
        self.visual = visual
        ps = trunk.patch_embed.patch_size
        if ps[0] != ps[1]:
            raise UserError(f'timm trunk with a non-square patch {tuple(ps)} is not supported.')
        self.patch_size = int(ps[0])
        self.width = int(trunk.embed_dim)
        self.num_blocks = len(trunk.blocks)
        self.num_prefix_tokens = int(trunk.num_prefix_tokens)
        self.grad_checkpointing = False
        rope = getattr(trunk, 'rope', None)
        # views of the trunk's blocks and head (not registered: their weights stay under ``visual.trunk``)
        object.__setattr__(self, '_blocks', [TimmViTBlock(b, self.num_prefix_tokens, rope) for b in trunk.blocks])
        object.__setattr__(self, '_token_head', TokenHead(trunk.norm, getattr(trunk, 'attn_pool', None),
                                                          trunk.fc_norm, trunk.head, visual.head))
        with torch.no_grad():
            probe = torch.zeros(1, self.width, dtype=trunk.patch_embed.proj.weight.dtype,
                                device=trunk.patch_embed.proj.weight.device)
            self.embed_dim = int(self._token_head(probe).shape[-1])

    @property
    def trunk(self) -> nn.Module:
        return self.visual.trunk

    @property
    def blocks(self) -> list[TimmViTBlock]:
        """The trunk's blocks as :class:`TimmViTBlock` (with P and the rope)."""
        return self._blocks

    @property
    def token_head(self) -> TokenHead:
        """``T``: the per-token projection (module docstring)."""
        return self._token_head

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Patchify, add prefix tokens and (resized) position embeddings, ``norm_pre``.

        Args:
            x: normalised images ``B×3×H×W`` with H, W multiples of the patch size.
        Returns:
            tokens ``B×(P+h·w)×W`` and the grid ``(h, w)``.
        """
        t, p = self.trunk, self.patch_size
        if x.shape[-2] % p or x.shape[-1] % p:
            raise ValueError(f'Image size {tuple(x.shape[-2:])} is not a multiple of the patch size {p}.')
        y = t.patch_embed.proj(x)
        grid = (y.shape[-2], y.shape[-1])
        y = t.patch_embed.norm(y.flatten(2).transpose(1, 2))
        prefix = [tok.expand(y.shape[0], -1, -1) for tok in (t.cls_token, t.reg_token) if tok is not None]
        pos = None
        if t.pos_embed is not None:
            pos = resample_abs_pos_embed(t.pos_embed, new_size=list(grid), old_size=list(t.patch_embed.grid_size),
                                         num_prefix_tokens=0 if t.no_embed_class else self.num_prefix_tokens)
        if t.no_embed_class:
            y = y + pos.to(y.dtype) if pos is not None else y
            y = torch.cat(prefix + [y], dim=1)
        else:
            y = torch.cat(prefix + [y], dim=1)
            y = y + pos.to(y.dtype) if pos is not None else y
        return t.norm_pre(t.pos_drop(y)), grid

    def run_blocks(self, x: torch.Tensor, start: int = 0, end: int | None = None,
                   grid: Optional[tuple[int, int]] = None) -> torch.Tensor:
        """Run blocks ``start..end-1`` (standard attention) on ``B×N×W`` tokens; ``grid`` (h, w) builds the rotary
        embeddings (EVA02; inferred for a square grid when omitted)."""
        if grid is None and getattr(self.trunk, 'rope', None) is not None:
            side = int(round((x.shape[1] - self.num_prefix_tokens) ** 0.5))
            if side * side != x.shape[1] - self.num_prefix_tokens:
                raise ValueError('run_blocks needs the grid (h, w) for rotary embeddings of a non-square grid.')
            grid = (side, side)
        use_ckpt = self.grad_checkpointing and torch.is_grad_enabled()
        for block in self.blocks[start:end]:
            x = checkpoint(block, x, grid, use_reentrant=False) if use_ckpt else block(x, grid)
        return x

    def forward_features(self, x: torch.Tensor, num_blocks: int | None = None) -> tuple[torch.Tensor, tuple]:
        """Tokens after the first ``num_blocks`` blocks (default: all but the last), ``B×N×W``, and the grid."""
        tokens, grid = self.embed(x)
        end = self.num_blocks - 1 if num_blocks is None else num_blocks
        return self.run_blocks(tokens, 0, end, grid), grid

    def project(self, tokens: torch.Tensor) -> torch.Tensor:
        """``T`` per token: ``…×W`` → ``…×D``."""
        return self.token_head(tokens)

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """Image embedding (unnormalised) ``B×D``: the trunk's pooling head and open_clip's ``head`` on all blocks."""
        tokens, grid = self.embed(x)
        tokens = self.run_blocks(tokens, grid=grid)
        return self.visual.head(self.trunk.forward_head(self.trunk.norm(tokens)))

    def dense_from_tokens(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """MaskCLIP dense embeddings (unnormalised) ``B×D×h×w`` from the tokens before the last block: the last
        block with self-only attention, then ``T`` per patch token (prefix tokens dropped)."""
        z = block_ops(self.blocks[-1]).self_only(tokens)[:, self.num_prefix_tokens:]
        dense = self.project(z)
        return dense.transpose(1, 2).reshape(tokens.shape[0], -1, grid[0], grid[1])

    def encode_dense(self, x: torch.Tensor) -> torch.Tensor:
        """MaskCLIP dense embeddings (unnormalised) ``B×D×h×w`` of images ``B×3×H×W`` (H, W multiples of p)."""
        return self.dense_from_tokens(*self.forward_features(x))

    def forward(self, x: torch.Tensor) -> CLIPFeatures:
        """mmseg's image-encoder call on a window of any size (padded centrally to multiples of p)."""
        tokens, grid = self.forward_features(pad_to_patch(x, self.patch_size)[0])
        return CLIPFeatures(tokens, grid, self.dense_from_tokens(tokens, grid))
