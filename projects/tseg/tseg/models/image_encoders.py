"""Image encoders of TSEG: images ``B×3×H×W`` → patch tokens ``B×N×D_I`` and the grid ``(h, w)``, N = h·w.

* :class:`TSEGViTEncoder` — a timm ViT (the paper's ViT-S/16, ImageNet-pretrained, drop path 0.1); position
  embeddings are *bilinearly* resized to the input grid (TSEG Sec. 4.2); output = final-norm patch tokens
  (Segmenter's linear decoding reads these).
* :class:`TSEGCLIPImageEncoder` — the plugin's open_clip ViT (``OpenCLIP``): patch tokens after all blocks and
  ``ln_post`` (width W, before CLIP's projection), trainable by default.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS


@MODELS.register_module()
class TSEGViTEncoder(BaseModule):
    """timm Vision Transformer as TSEG's image encoder.

    Args:
        model_name: timm name; the paper's ViT-S/16: ``'vit_small_patch16_384.augreg_in21k_ft_in1k'`` (Segmenter's
            ViT-S; see README choices). Tiny tests: ``'vit_small_patch16_224'`` with ``model_kwargs`` overriding sizes.
        pretrained: load timm's weights (downloads once; needs internet).
        checkpoint_path: a local timm weights file instead of the download.
        drop_path_rate: stochastic depth (paper: 0.1).
        model_kwargs: extra ``timm.create_model`` arguments (e.g. ``embed_dim``, ``depth``, ``num_heads``,
            ``patch_size``, ``img_size`` for the tiny variant).
    """

    def __init__(self, model_name: str = 'vit_small_patch16_384.augreg_in21k_ft_in1k', pretrained: bool = False,
                 checkpoint_path: Optional[str] = None, drop_path_rate: float = 0.1,
                 model_kwargs: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        import timm
        kwargs = dict(model_kwargs or {})
        kwargs.setdefault('num_classes', 0)
        kwargs.setdefault('dynamic_img_size', True)
        self.vit = timm.create_model(model_name, pretrained=pretrained, drop_path_rate=drop_path_rate,
                                     checkpoint_path=checkpoint_path or '', **kwargs)
        self.patch_size = int(self.vit.patch_embed.patch_size[0])
        self.embed_dim = int(self.vit.embed_dim)

    def init_weights(self) -> None:
        # timm initialised (or loaded) the weights at construction; mmengine must not re-initialise them.
        if self.init_cfg is not None:
            super().init_weights()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        from timm.layers import resample_abs_pos_embed
        vit = self.vit
        x = vit.patch_embed(x)                                       # B×h×w×D (dynamic_img_size)
        b, h, w, d = x.shape
        prefix = 0 if vit.no_embed_class else vit.num_prefix_tokens
        pos = resample_abs_pos_embed(vit.pos_embed, (h, w), num_prefix_tokens=prefix, interpolation='bilinear',
                                     antialias=False)
        x = x.reshape(b, h * w, d)
        tokens = []
        if vit.cls_token is not None:
            tokens.append(vit.cls_token.expand(b, -1, -1))
        if getattr(vit, 'reg_token', None) is not None:
            tokens.append(vit.reg_token.expand(b, -1, -1))
        if vit.no_embed_class:
            x = torch.cat(tokens + [x + pos], dim=1)
        else:
            x = torch.cat(tokens + [x], dim=1) + pos
        x = vit.norm_pre(vit.pos_drop(x))
        x = vit.norm(vit.blocks(x))
        return x[:, vit.num_prefix_tokens:], (h, w)


@MODELS.register_module()
class TSEGCLIPImageEncoder(BaseModule):
    """open_clip ViT image tower (``OpenCLIP``) as TSEG's image encoder (patch tokens after ``ln_post``).

    Args:
        model_name, pretrained: see ``OpenCLIP``.
        frozen: keep the CLIP weights frozen (default False: TSEG trains end to end).
    """

    def __init__(self, model_name: str = 'ViT-B-16', pretrained: Optional[str] = None, frozen: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        from mmseg_code.models.clip import OpenCLIP
        clip = OpenCLIP(model_name, pretrained=pretrained, frozen=frozen)
        self.encoder = clip.image_encoder
        self.patch_size = self.encoder.patch_size
        self.embed_dim = self.encoder.width
        self.frozen = frozen
        self.encoder.visual.proj.requires_grad_(False)     # unused: TSEG projects with its own W_I

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        tokens, grid = self.encoder.embed(x)
        tokens = self.encoder.visual.ln_post(self.encoder.run_blocks(tokens))
        return tokens[:, 1:], grid
