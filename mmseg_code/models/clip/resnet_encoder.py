"""CLIP ModifiedResNet image tower (open_clip ``RN50``, ``RN101``, …) with MaskCLIP's dense read-out.

MaskCLIP (Zhou et al., ECCV 2022; its ``MaskClipHead`` without ``attn_pooling``) reads the attention pool's value path
at every position of the last feature map, without the pool's position embedding and attention::

    X = layer4(…(stem(x)))                  B×C×h×w      h = H/32, w = W/32 (C = 32·width: 2048 for RN50)
    V = c_proj(v_proj(X))                    B×D×h×w      both linear maps applied per position (1×1 convolutions)

Only this read-out exists for ResNets: the training-free MaskCLIP segmentor runs on it (``TrainingFreeHead``,
``last_block='maskclip'``; ``dense`` of :class:`CLIPFeatures`), and TCL's KP branch could. The token-level parts —
SCLIP / ClearCLIP / NACLIP attention, TCL's and CoDe's trainable copy of the last ViT block — need a ViT and stop with
one line. :class:`ConvCLIPEncoder` holds what every convolutional tower shares (ConvNeXt's too,
``convnext_encoder.py``): the window call, the dense read-out from the feature map, the one-line stops.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ...utils.tool import UserError
from .image_encoder import CLIPFeatures, pad_to_patch

VIT_ONLY = ('needs a ViT CLIP (tokens and a last transformer block); open_clip ModifiedResNet (RN50, …) supports the '
            "training-free MaskCLIP only (TrainingFreeHead, last_block='maskclip').")


class ConvCLIPEncoder(nn.Module):
    """A frozen convolutional CLIP image tower read out per position of its last feature map (MaskCLIP).

    Subclasses give :meth:`feature_map` (X, ``B×C×h×w``), :meth:`dense_from_map` (V, ``B×D×h×w``), ``patch_size``
    (the total stride s), ``width``, ``embed_dim`` and ``vit_only`` (the one-line reason the token methods stop).
    There are no tokens: ``blocks`` and :meth:`forward_features` (TCL/CoDe's trainable last block, SCLIP / ClearCLIP /
    NACLIP) raise a one-line :class:`UserError`.
    """

    is_vit = False
    num_prefix_tokens = 0
    vit_only = VIT_ONLY

    @property
    def blocks(self):
        raise UserError('The trainable last block of TCL/CoDe (ImageSegmenter) ' + self.vit_only)

    def forward_features(self, x: torch.Tensor, num_blocks=None):
        raise UserError('TCL/CoDe ' + self.vit_only)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def dense_from_map(self, fmap: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode_dense(self, x: torch.Tensor) -> torch.Tensor:
        """MaskCLIP dense embeddings ``B×D×h×w`` of images ``B×3×H×W`` (H, W multiples of s)."""
        return self.dense_from_map(self.feature_map(x))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """Standard CLIP image embedding ``B×D`` (open_clip's own tower: its pooling and projection)."""
        return self.visual(x)

    def forward(self, x: torch.Tensor) -> CLIPFeatures:
        """mmseg's image-encoder call: a window padded centrally to multiples of s, read out as
        :class:`CLIPFeatures` with ``tokens=None`` (no tokens in a convolutional tower) and the MaskCLIP embeddings."""
        fmap = self.feature_map(pad_to_patch(x, self.patch_size)[0])
        return CLIPFeatures(None, tuple(fmap.shape[-2:]), self.dense_from_map(fmap))


class CLIPResNetEncoder(ConvCLIPEncoder):
    """Frozen open_clip ``ModifiedResNet`` with MaskCLIP's dense read-out (module docstring).

    Args:
        visual: an open_clip ``ModifiedResNet`` (``attnpool`` present).
    """

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        if getattr(visual, 'attnpool', None) is None:
            raise UserError('CLIPResNetEncoder needs an open_clip ModifiedResNet with its attention pool.')
        self.visual = visual
        self.patch_size = 32                                  # stem /4, layer2..4 /2 each
        self.width = visual.attnpool.v_proj.in_features
        self.embed_dim = visual.attnpool.c_proj.out_features
        self.grad_checkpointing = False

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """X: the last feature map ``B×C×h×w`` of images ``B×3×H×W`` (H, W multiples of 32)."""
        v = self.visual
        return v.layer4(v.layer3(v.layer2(v.layer1(v.stem(x)))))

    def dense_from_map(self, fmap: torch.Tensor) -> torch.Tensor:
        """V = c_proj(v_proj(X)) per position: ``B×C×h×w`` → ``B×D×h×w`` (unnormalised)."""
        pool = self.visual.attnpool
        return pool.c_proj(pool.v_proj(fmap.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
