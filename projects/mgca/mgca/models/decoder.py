"""MGCA's pixel decoder D_v (Eq. 1, Sec. 4.1 "Architecture").

    F   = E_v(x)          B×C×h×w     frozen CLIP ViT; MaskCLIP/TCL last block (self-only attention) then
                                      ln_post + proj, CLS excluded (``CLIPImageEncoder.encode_dense``)
    V   = D_v(F)          B×C×2h×2w   one ×2 upsampling + two gated conv blocks of TCL (``GatedDecoder`` with
                                      ``n_layers=1, double=True``), run in the joint space (C = 512 for ViT-B/16)

Trainable parameters (C = 512): 2 × (LN 2·512 + conv 512·512·9 + 512 + gate 1) = 4,721,666 ≈ 4.72M, the
paper's count. There is no trainable copy of the last CLIP block and no output projection (either would exceed
4.72M). At 224×224 input (h = w = 14): L = 28·28 = 784 pixel embeddings; at a 448 window: 56·56 = 3136 (Table 4).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS


@MODELS.register_module()
class MGCADecoder(BaseModule):
    """D_v: ``GatedDecoder`` (×2, two gated 3×3 blocks) on the frozen dense CLIP embeddings.

    Args:
        image_encoder: the frozen ``CLIPImageEncoder`` (passed by the segmentor; only its ``embed_dim`` is read,
            it is not stored).
        decoder: ``GatedDecoder`` config; ``channels`` defaults to the CLIP embedding size C.
    """

    def __init__(self, image_encoder=None,
                 decoder: dict = dict(type='GatedDecoder', n_layers=1, double=True, kernel_size=3),
                 channels: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        decoder = dict(decoder)
        if channels is None:
            if image_encoder is None:
                raise ValueError('MGCADecoder needs `channels` or the CLIP `image_encoder`.')
            channels = image_encoder.embed_dim
        decoder.setdefault('channels', channels)
        self.channels = int(decoder['channels'])
        self.decoder = MODELS.build(decoder)

    @property
    def scale(self) -> int:
        return self.decoder.scale

    def forward(self, clip_dense: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """``B×C×h×w`` frozen dense CLIP embeddings → pixel embeddings V ``B×C×(s·h)×(s·w)`` (s = 2)."""
        x = self.decoder(clip_dense)
        return F.normalize(x, dim=1, eps=1e-6) if normalize else x
