"""Region and word highlighting prompts of CoDe (Sec. 3.3, Eq. 4–5).

Region highlighting (Eq. 4), in ImageNet-normalised pixel space::

    H_v = X_v ∗ M_v↑ + P_v↑ ∗ (1 − M_v↑)            B×3×H×W

X_v ``B×3×H×W`` images, M_v ``B×1×h×w`` region mask (the hard straight-through mask of the image segmenter, so
gradients reach it), ↑ = nearest upsampling to H×W (official ``F.interpolate`` default); P_v a learnable
``1×3×224×224`` prompt, zero-initialised (= the mean colour), bilinearly resized (``align_corners=False``) to H×W.

Word highlighting (Eq. 5), on token embeddings (before positional embeddings)::

    H_t = X_t ∗ M_t + P_t ∗ (1 − M_t)               N×L×C

X_t ``N×L×C`` caption token embeddings, M_t ``N×L`` soft word mask forced to 1 at SOT (position 0), at EOT and at every
position after EOT (special and padding tokens are never replaced); P_t a learnable, zero-initialised prompt, one
vector per position ``L×C`` (``mode='per_position'``, official) or one vector ``1×C`` (``mode='single'``, paper).

``learnable=False`` gives the "blank" of the Table 2 ablations: P stays zero (mean colour / zero token vectors) and
receives no gradient.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS


@MODELS.register_module()
class RegionHighlightPrompt(BaseModule):
    """P_v and Eq. 4.

    Args:
        size: spatial size of P_v (224, 224).
        channels: image channels (3).
        learnable: train P_v (True) or keep the zero blank (False).
    """

    def __init__(self,
                 size: Sequence[int] = (224, 224),
                 channels: int = 3,
                 learnable: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.learnable = bool(learnable)
        self.prompt = nn.Parameter(torch.zeros(1, channels, int(size[0]), int(size[1])), requires_grad=self.learnable)

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """H_v for images ``B×3×H×W`` and region masks ``B×1×h×w`` (values in [0, 1])."""
        size = image.shape[-2:]
        m = mask.to(image.dtype)
        if m.shape[-2:] != size:
            m = F.interpolate(m, size=size, mode='nearest')
        p = self.prompt.to(image.dtype)
        if p.shape[-2:] != size:
            p = F.interpolate(p, size=size, mode='bilinear', align_corners=False)
        return image * m + p * (1 - m)

    def extra_repr(self) -> str:
        return f'learnable={self.learnable}'


@MODELS.register_module()
class WordHighlightPrompt(BaseModule):
    """P_t and Eq. 5.

    Args:
        length: context length L (77).
        width: token embedding width C (512 for ViT-B/16).
        mode: ``'per_position'`` (official, ``L×C``) or ``'single'`` (paper, one ``C`` vector for all positions).
        learnable: train P_t (True) or keep the zero blank (False).
    """

    def __init__(self,
                 length: int = 77,
                 width: int = 512,
                 mode: str = 'per_position',
                 learnable: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if mode not in ('per_position', 'single'):
            raise ValueError(f"mode must be 'per_position' or 'single', got {mode!r}")
        self.mode = mode
        self.learnable = bool(learnable)
        rows = int(length) if mode == 'per_position' else 1
        self.prompt = nn.Parameter(torch.zeros(rows, int(width)), requires_grad=self.learnable)

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()

    @staticmethod
    def keep_mask(word_mask: torch.Tensor, eot_index: torch.Tensor) -> torch.Tensor:
        """M_t with 1 at SOT, EOT and after EOT: ``N×L`` from ``N×L`` masks and ``N`` EOT positions."""
        pos = torch.arange(word_mask.shape[1], device=word_mask.device).unsqueeze(0)
        special = (pos == 0) | (pos >= eot_index.unsqueeze(1))
        return word_mask.masked_fill(special, 1.0)

    def forward(self, token_embeds: torch.Tensor, word_mask: torch.Tensor, eot_index: torch.Tensor) -> torch.Tensor:
        """H_t ``N×L×C`` from token embeddings ``N×L×C``, soft word masks ``N×L`` and EOT positions ``N``."""
        length = token_embeds.shape[1]
        m = self.keep_mask(word_mask, eot_index).to(token_embeds.dtype).unsqueeze(-1)
        p = self.prompt.to(token_embeds.dtype)
        if self.mode == 'per_position':
            if p.shape[0] < length:
                raise ValueError(f'P_t has {p.shape[0]} positions, the text has {length}')
            p = p[:length]
        return token_embeds * m + p.unsqueeze(0) * (1 - m)

    def extra_repr(self) -> str:
        return f'mode={self.mode}, learnable={self.learnable}'
