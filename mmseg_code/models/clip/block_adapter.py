"""One view of a ViT's last transformer block for every code path that rewires it (MaskCLIP's value path, SCLIP /
ClearCLIP / NACLIP attention, TCL's and CoDe's trainable copy).

A pre-norm block on tokens ``x`` (``B×N×W``, the first ``P`` tokens are prefix tokens — class / register — and the
other ``h·w`` are patches), H heads of width d::

    y        = norm1(x)                                                    B×N×W
    q, k, v  = W_q·y + b_q, W_k·y + b_k, W_v·y + b_v   → per head         B×H×N×d each
    q, k     = q_norm(q), k_norm(k); RoPE(q), RoPE(k) on the h·w patches   (EVA02: rotary embeddings; others: none)
    s        = d^-1/2
    attend(A, v) = out(merge_heads(A·v))                                   A: B×H×N×N → B×N×W
                   out(o) = proj(inner_norm(o))  (timm; EVA02's ``scale_attn_inner``)
                          = ln_attn(out_proj(o)) (open_clip)
    block(x) = z + ls2(mlp(norm2(z))),  z = x + ls1(attend(softmax(s·q·kᵀ), v))

:func:`block_ops` returns these pieces (:class:`BlockOps`) for

* an open_clip ``ResidualAttentionBlock`` (plain ViTs: OpenAI, LAION, …; ``ln_1``/``attn.in_proj_*``/``ls_1``/``ln_2``/
  ``mlp``/``ls_2``), used as is, so the state dicts of the trainable copy keep their keys;
* a :class:`TimmViTBlock`: a timm ``Block`` (``VisionTransformer``: SigLIP / SigLIP2) or ``EvaBlock`` (EVA02) together
  with the trunk's rotary embedding (``rope``; built for the actual grid, :func:`rope_for_grid`) and ``P``.

The value path (every token attending only to itself, MaskCLIP) is ``attend(I, v) = out(v)``, :meth:`BlockOps.value`.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import apply_rot_embed_cat, build_rotary_pos_embed

from ...utils.options import OptionError


def rope_for_grid(rope: nn.Module, grid: tuple[int, int]) -> torch.Tensor:
    """The trunk's concatenated sin/cos rotary embedding (timm ``RotaryEmbeddingCat``) for a ``h×w`` patch grid,
    ``(h·w)×2d``: its own cached table at its training grid, otherwise rebuilt from its frequency bands with its
    settings (``ref_feat_shape`` rescaling included) by timm's ``build_rotary_pos_embed`` — what timm's
    ``dynamic_img_size`` computes."""
    grid = [int(grid[0]), int(grid[1])]
    if getattr(rope, 'feat_shape', None) is not None and list(rope.feat_shape) == grid:
        return rope.get_embed()
    if getattr(rope, 'feat_shape', None) is None:
        return rope.get_embed(shape=grid)
    sin, cos = build_rotary_pos_embed(
        grid, bands=rope.bands, in_pixels=rope.in_pixels, ref_feat_shape=rope.ref_feat_shape,
        grid_offset=rope.grid_offset, grid_indexing=rope.grid_indexing, rotate_half=rope.rotate_half,
        device=rope.bands.device, grid_type=rope.grid_type, normalize_coords=rope.normalize_coords)
    return torch.cat([sin, cos], -1)


class TimmViTBlock(nn.Module):
    """A timm ViT block (``Block`` or ``EvaBlock``) with what its attention needs beyond the tokens: the number of
    prefix tokens P and the trunk's rotary embedding (EVA02; ``None`` otherwise).

    ``forward(x, grid)`` is the block itself (``block(x, rope=RoPE(grid))`` for EVA02). The rope module only holds
    non-persistent buffers (frequency bands), so a copy of this wrapper adds no weights.
    """

    def __init__(self, block: nn.Module, num_prefix_tokens: int, rope: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.block = block
        self.rope = rope
        self.num_prefix_tokens = int(num_prefix_tokens)

    def rope_embed(self, grid: Optional[tuple[int, int]]) -> Optional[torch.Tensor]:
        if self.rope is None:
            return None
        if grid is None:
            raise ValueError('a block with rotary position embeddings needs the patch grid (h, w).')
        return rope_for_grid(self.rope, grid)

    def forward(self, x: torch.Tensor, grid: Optional[tuple[int, int]] = None) -> torch.Tensor:
        if self.rope is None:
            return self.block(x)
        return self.block(x, rope=self.rope_embed(grid))


class BlockOps:
    """The pieces of one block (module docstring); a view, it owns no weights."""

    num_heads: int
    head_dim: int
    num_prefix_tokens: int

    @property
    def scale(self) -> float:
        return self.head_dim ** -0.5

    def qkv(self, x: torch.Tensor, grid=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def out(self, o: torch.Tensor) -> torch.Tensor:
        """``B×N×(H·d)`` merged heads → ``B×N×W``."""
        raise NotImplementedError

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """``out(W_v·norm1(x) + b_v)``: the attention output when every token attends only to itself, ``B×N×W``."""
        raise NotImplementedError

    def ls1(self, a: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def ffn(self, z: torch.Tensor) -> torch.Tensor:
        """The second residual branch ``z + ls2(mlp(norm2(z)))``."""
        raise NotImplementedError

    def ffn_modules(self) -> list[nn.Module]:
        """Modules (and parameters) used only by :meth:`ffn`."""
        raise NotImplementedError

    def qk_parameters(self) -> list[nn.Parameter]:
        """Parameters used only by q and k (separate projections, their biases, q/k norms): unused by :meth:`value`."""
        return []

    def attend(self, weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``out(merge_heads(weights · v))``: ``B×H×N×N``, ``B×H×N×d`` → ``B×N×W``."""
        o = weights.to(v.dtype) @ v
        b, h, n, d = o.shape
        return self.out(o.transpose(1, 2).reshape(b, n, h * d))

    def self_only(self, x: torch.Tensor) -> torch.Tensor:
        """The block with every token attending only to itself (MaskCLIP): ``z = x + ls1(value(x))``, then the FFN."""
        return self.ffn(x + self.ls1(self.value(x)))


class OpenCLIPBlockOps(BlockOps):
    """open_clip ``ResidualAttentionBlock`` with a packed ``nn.MultiheadAttention`` (batch-first tokens)."""

    def __init__(self, block: nn.Module) -> None:
        self.block = block
        self.attn: nn.MultiheadAttention = block.attn
        self.num_heads = self.attn.num_heads
        self.head_dim = self.attn.embed_dim // self.num_heads
        self.num_prefix_tokens = 1

    def qkv(self, x, grid=None):
        b, n, w = x.shape
        y = F.linear(self.block.ln_1(x), self.attn.in_proj_weight, self.attn.in_proj_bias)      # B×N×3W
        q, k, v = y.reshape(b, n, 3, self.num_heads, w // self.num_heads).permute(2, 0, 3, 1, 4)
        return q, k, v

    def out(self, o):
        o = self.attn.out_proj(o)
        return self.block.ln_attn(o) if hasattr(self.block, 'ln_attn') else o

    def value(self, x):
        w = x.shape[-1]
        bias = self.attn.in_proj_bias[2 * w:] if self.attn.in_proj_bias is not None else None
        return self.out(F.linear(self.block.ln_1(x), self.attn.in_proj_weight[2 * w:], bias))

    def ls1(self, a):
        return self.block.ls_1(a)

    def ffn(self, z):
        return z + self.block.ls_2(self.block.mlp(self.block.ln_2(z)))

    def ffn_modules(self):
        return [self.block.ln_2, self.block.mlp, self.block.ls_2]


class TimmBlockOps(BlockOps):
    """timm ``Block`` (``Attention``: fused ``qkv``, ``q_norm``/``k_norm``, inner ``norm``, ``proj``; ``ls1``/``ls2``)
    or ``EvaBlock`` (``EvaAttention``: fused ``qkv`` with ``q_bias``/``v_bias`` or separate ``q_proj``/``k_proj``/
    ``v_proj``, RoPE on the patch tokens; layer scales ``gamma_1``/``gamma_2``)."""

    def __init__(self, wrapper: TimmViTBlock) -> None:
        self.wrapper = wrapper
        self.block = block = wrapper.block
        self.attn = attn = block.attn
        kind = type(block).__name__
        if kind not in ('Block', 'EvaBlock') or type(attn).__name__ not in ('Attention', 'EvaAttention'):
            raise OptionError(f'timm block {kind} with {type(attn).__name__} is not supported by the last-block '
                              'methods (timm Block/Attention as in SigLIP, EvaBlock/EvaAttention as in EVA02).')
        if getattr(attn, 'gate', None) is not None:
            raise OptionError('timm attention with an output gate (gated=True) is not supported by the last-block '
                              'methods.')
        self.num_heads = attn.num_heads
        self.head_dim = attn.head_dim
        self.num_prefix_tokens = wrapper.num_prefix_tokens
        self.eva = kind == 'EvaBlock'

    def _project(self, y: torch.Tensor, which: int) -> torch.Tensor:
        """The ``which``-th (0 q, 1 k, 2 v) projection of normed tokens ``y``: ``B×N×(H·d)``."""
        a = self.attn
        n = self.num_heads * self.head_dim
        if getattr(a, 'qkv', None) is not None:
            w = a.qkv.weight[which * n:(which + 1) * n]
            if self.eva:
                bias = None if a.q_bias is None else (a.q_bias, a.k_bias, a.v_bias)[which]
            else:
                bias = None if a.qkv.bias is None else a.qkv.bias[which * n:(which + 1) * n]
            return F.linear(y, w, bias)
        return (a.q_proj, a.k_proj, a.v_proj)[which](y)

    def qkv(self, x, grid=None):
        b, n, _ = x.shape
        y = self.block.norm1(x)
        q, k, v = (self._project(y, i).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2) for i in range(3))
        q, k = self.attn.q_norm(q), self.attn.k_norm(k)
        rope = self.wrapper.rope_embed(grid)
        if rope is not None:
            p = self.num_prefix_tokens
            half = getattr(self.attn, 'rotate_half', False)
            q = torch.cat([q[:, :, :p], apply_rot_embed_cat(q[:, :, p:], rope, half=half)], dim=2).type_as(v)
            k = torch.cat([k[:, :, :p], apply_rot_embed_cat(k[:, :, p:], rope, half=half)], dim=2).type_as(v)
        return q, k, v

    def out(self, o):
        return self.attn.proj(self.attn.norm(o))

    def value(self, x):
        return self.out(self._project(self.block.norm1(x), 2))

    def ls1(self, a):
        if self.eva:
            return a if self.block.gamma_1 is None else self.block.gamma_1 * a
        return self.block.ls1(a)

    def ffn(self, z):
        m = self.block.mlp(self.block.norm2(z))
        if self.eva:
            return z + (m if self.block.gamma_2 is None else self.block.gamma_2 * m)
        return z + self.block.ls2(m)

    def ffn_modules(self):
        mods = [self.block.norm2, self.block.mlp]
        if not self.eva:
            mods.append(self.block.ls2)
        return mods

    def qk_parameters(self) -> list[nn.Parameter]:
        a = self.attn
        mods = [a.q_norm, a.k_norm] + ([a.q_proj, a.k_proj] if getattr(a, 'q_proj', None) is not None else [])
        params = [p for m in mods for p in m.parameters()]
        if self.eva and getattr(a, 'q_bias', None) is not None:
            params.append(a.q_bias)
        return params

    def ffn_parameters(self) -> list[nn.Parameter]:
        params = [p for m in self.ffn_modules() for p in m.parameters()]
        if self.eva and self.block.gamma_2 is not None:
            params.append(self.block.gamma_2)
        return params


def block_ops(block: nn.Module) -> BlockOps:
    """:class:`BlockOps` of an open_clip ``ResidualAttentionBlock`` or a :class:`TimmViTBlock`; one line otherwise."""
    if isinstance(block, TimmViTBlock):
        return TimmBlockOps(block)
    attn = getattr(block, 'attn', None)
    if not isinstance(attn, nn.MultiheadAttention) or not attn._qkv_same_embed_dim:
        raise OptionError(f'training-free last blocks need an open_clip ResidualAttentionBlock with a packed '
                          f'nn.MultiheadAttention or a timm ViT block (TimmViTBlock), got {type(block).__name__}.')
    return OpenCLIPBlockOps(block)


def ffn_parameters(block: nn.Module) -> list[nn.Parameter]:
    """Parameters used only by the block's FFN branch (norm2, mlp, its layer scale)."""
    ops = block_ops(block)
    if isinstance(ops, TimmBlockOps):
        return ops.ffn_parameters()
    return [p for m in ops.ffn_modules() for p in m.parameters()]
