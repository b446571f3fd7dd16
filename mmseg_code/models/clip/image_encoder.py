"""CLIP image encoder E_v with the dense read-outs TCL and CoDe need.

Three views of one frozen open_clip ``VisionTransformer`` (batch-first tokens, N = 1 + h·w):

* :meth:`CLIPImageEncoder.forward_features` — tokens *before* the last block, ``B×N×W``: the input of
  TCL's masker, whose trainable copy of the last block runs with self-only attention (TCL Sec. 3.2).
* :meth:`CLIPImageEncoder.encode_image` — the standard CLIP image embedding (CLS → ``ln_post`` →
  ``proj``), ``B×D``: e_v = E_v(H_v) in CoDe Eq. 6 and TCL's image-level contrast.
* :meth:`CLIPImageEncoder.encode_dense` — MaskCLIP-style dense embeddings ``B×D×h×w``: the last block
  with each token attending only to itself, then ``ln_post``/``proj`` per token (TCL's KP branch, MGCA's E_v).
* :meth:`CLIPImageEncoder.forward` — mmseg's image-encoder call (``MultimodalEncoderDecoder.encode_decode``): a
  window padded centrally to a multiple of the patch size p (:func:`pad_to_patch`), read out as
  :class:`CLIPFeatures` (the tokens before the last block and the MaskCLIP embeddings) for the decode heads.

Position embeddings are resized bicubically (timm's ``resample_abs_pos_embed``) for inputs whose grid differs from the
training grid.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed
from torch.utils.checkpoint import checkpoint

from .block_adapter import OpenCLIPBlockOps


def self_attention_block(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run an open_clip ``ResidualAttentionBlock`` with every token attending only to itself.

    With an attention mask that is −inf off the diagonal the softmax weight on the token itself is 1,
    so the attention output is ``out_proj(v_proj(ln_1(x)))``; residuals and the MLP are kept. This
    computes that value path directly (exactly equal, cheaper than a masked ``N×N`` attention).

    Args:
        block: an open_clip ``ResidualAttentionBlock`` (``nn.MultiheadAttention`` inside).
        x: tokens ``B×N×W``.
    Returns:
        tokens ``B×N×W``.
    """
    return OpenCLIPBlockOps(block).self_only(x)


def resize_pos_embed(pos_embed: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
    """Bicubically resize ``(1+g·g)×W`` CLIP position embeddings to a ``h×w`` grid (CLS kept; the input itself when
    the grid is g×g). timm's ``resample_abs_pos_embed`` without its default antialiasing (``align_corners=False``)."""
    return resample_abs_pos_embed(pos_embed[None], list(grid_hw), num_prefix_tokens=1, interpolation='bicubic',
                                  antialias=False, align_corners=False)[0]


def pad_to_patch(x: torch.Tensor, patch_size: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pad ``B×C×H×W`` centrally to multiples of ``patch_size`` (TCL's windows); returns the padded tensor and the
    padding ``(left, right, top, bottom)`` (the larger half right and bottom)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % patch_size, (-w) % patch_size
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if ph or pw:
        x = F.pad(x, pad, value=0.0)
    return x, pad


class CLIPFeatures(NamedTuple):
    """The frozen CLIP read-outs of one window that the decode heads receive (:meth:`CLIPImageEncoder.forward`).

    Attributes:
        tokens: ``B×(P+h·w)×W`` tokens before the last block (the input of TCL's trainable copy of it; P prefix
            tokens: 1 class token for open_clip ViTs and EVA02, 0 for SigLIP; ``None`` for convolutional towers).
        grid: ``(h, w)``.
        dense: ``B×D×h×w`` MaskCLIP embeddings (:meth:`CLIPImageEncoder.encode_dense`; TCL's KP branch, MGCA's E_v).
    """
    tokens: torch.Tensor
    grid: tuple[int, int]
    dense: torch.Tensor


SUPPORTED_BACKBONES = ('open_clip ViTs (class token, no attention pooling: OpenAI, LAION, DataComp, MetaCLIP, DFN), '
                       'timm ViT trunks (SigLIP, SigLIP2, EVA02), ModifiedResNet and timm ConvNeXt (MaskCLIP only)')


def check_visual(visual: nn.Module) -> None:
    """A one-line :class:`~mmseg_code.utils.tool.UserError` for an open_clip image tower ``CLIPImageEncoder`` does not
    read (README "Backbones"): ModifiedResNet and timm trunks have their own encoders (``OpenCLIP`` picks them); other
    timm trunks (MobileCLIP's FastViT, …) and open_clip ViTs with attention pooling are not supported."""
    from ...utils.tool import UserError
    kind = type(visual).__name__
    if kind == 'ModifiedResNet':
        raise UserError('open_clip ModifiedResNet (RN50, RN101, …) has no tokens: CLIPImageEncoder needs an open_clip '
                        'ViT; OpenCLIP builds CLIPResNetEncoder for it (training-free MaskCLIP only).')
    if kind == 'TimmModel':
        trunk = type(getattr(visual, 'trunk', visual)).__name__
        raise UserError(f'open_clip timm trunk {trunk} is not supported: dense features exist for '
                        f'{SUPPORTED_BACKBONES}.')
    if getattr(visual, 'attn_pool', None) is not None or not hasattr(visual, 'conv1') or \
            getattr(visual, 'proj', None) is None or not hasattr(visual, 'transformer'):
        raise UserError(f'open_clip {kind} with attention pooling or without a projection is not supported: dense '
                        f'features exist for {SUPPORTED_BACKBONES}.')


class CLIPImageEncoder(nn.Module):
    """Frozen CLIP ViT image tower with dense read-outs.

    Args:
        visual: an open_clip ``VisionTransformer`` (class-token pooling, ``proj`` present).
    """

    is_vit = True
    num_prefix_tokens = 1

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        check_visual(visual)
        self.visual = visual
        self.patch_size = visual.conv1.kernel_size[0]
        self.width = visual.conv1.out_channels
        self.embed_dim = visual.proj.shape[1]
        self.num_blocks = len(visual.transformer.resblocks)
        self.grad_checkpointing = False

    @property
    def blocks(self) -> nn.ModuleList:
        return self.visual.transformer.resblocks

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Patchify, add the class token and (resized) position embeddings, ``ln_pre``.

        Args:
            x: normalised images ``B×3×H×W`` with H, W multiples of the patch size.
        Returns:
            tokens ``B×(1+h·w)×W`` and the grid ``(h, w)``.
        """
        v = self.visual
        p = self.patch_size
        if x.shape[-2] % p or x.shape[-1] % p:
            raise ValueError(f'Image size {tuple(x.shape[-2:])} is not a multiple of the patch size {p}.')
        x = v.conv1(x)
        grid = (x.shape[-2], x.shape[-1])
        x = x.flatten(2).transpose(1, 2)
        cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + resize_pos_embed(v.positional_embedding, grid).to(x.dtype)
        return v.ln_pre(x), grid

    def run_blocks(self, x: torch.Tensor, start: int = 0, end: int | None = None, grid=None) -> torch.Tensor:
        """Run blocks ``start..end-1`` (standard attention) on ``B×N×W`` tokens (``grid`` unused: absolute position
        embeddings only).

        With ``grad_checkpointing`` and gradients enabled (CoDe's and TCL's masked-image pass backpropagates
        through the frozen blocks into the mask and P_v), each block's activations are recomputed in backward.
        """
        use_ckpt = self.grad_checkpointing and torch.is_grad_enabled()
        for block in self.blocks[start:end]:
            x = checkpoint(block, x, use_reentrant=False) if use_ckpt else block(x)
        return x

    def forward_features(self, x: torch.Tensor, num_blocks: int | None = None) -> tuple[torch.Tensor, tuple]:
        """Tokens after the first ``num_blocks`` blocks (default: all but the last), ``B×N×W``, and the grid."""
        tokens, grid = self.embed(x)
        end = self.num_blocks - 1 if num_blocks is None else num_blocks
        return self.run_blocks(tokens, 0, end), grid

    def project(self, tokens: torch.Tensor) -> torch.Tensor:
        """``ln_post`` then ``proj`` per token: ``…×W`` → ``…×D``."""
        return self.visual.ln_post(tokens) @ self.visual.proj

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """Standard CLIP image embedding (unnormalised) ``B×D`` of images ``B×3×H×W``."""
        tokens, _ = self.embed(x)
        tokens = self.run_blocks(tokens)
        return self.project(tokens[:, 0])

    def dense_from_tokens(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """MaskCLIP dense embeddings (unnormalised) ``B×D×h×w`` from the tokens before the last block: the last
        block with self-only attention, then ``ln_post``/``proj`` per token (CLS dropped)."""
        dense = self.project(self_attention_block(self.blocks[-1], tokens)[:, 1:])
        return dense.transpose(1, 2).reshape(tokens.shape[0], -1, grid[0], grid[1])

    def encode_dense(self, x: torch.Tensor) -> torch.Tensor:
        """MaskCLIP dense embeddings (unnormalised) ``B×D×h×w`` of images ``B×3×H×W`` (H, W multiples of p)."""
        return self.dense_from_tokens(*self.forward_features(x))

    def forward(self, x: torch.Tensor) -> CLIPFeatures:
        """mmseg's image-encoder call on a window ``B×3×H×W`` of any size: padded centrally to multiples of p
        (:func:`pad_to_patch`; the heads crop the same padding), read out as :class:`CLIPFeatures`."""
        tokens, grid = self.forward_features(pad_to_patch(x, self.patch_size)[0])
        return CLIPFeatures(tokens, grid, self.dense_from_tokens(tokens, grid))
