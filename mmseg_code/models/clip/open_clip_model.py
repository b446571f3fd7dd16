"""``OpenCLIP``: the frozen CLIP shared by every method of the plugin (one copy of the weights)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS

import open_clip

from .factory import build_open_clip, list_clip_models
from .convnext_encoder import CLIPConvNeXtEncoder
from .image_encoder import CLIPImageEncoder
from .resnet_encoder import CLIPResNetEncoder
from .timm_vit_encoder import TIMM_VIT_TRUNKS, CLIPTimmViTEncoder
from .text_encoder import CLIPTextEncoder, build_tokenizer


def build_image_encoder(visual: nn.Module) -> nn.Module:
    """E_v for an open_clip image tower (README "Backbones"): ``CLIPImageEncoder`` (open_clip ViTs),
    ``CLIPTimmViTEncoder`` (timm ViT trunks: SigLIP, SigLIP2, EVA02), ``CLIPResNetEncoder`` (ModifiedResNet) or
    ``CLIPConvNeXtEncoder`` (timm ConvNeXt); any other tower stops with one line (``check_visual``)."""
    kind = type(visual).__name__
    trunk = type(getattr(visual, 'trunk', None)).__name__
    if kind == 'ModifiedResNet':                        # RN50, …: MaskCLIP's dense read-out only
        return CLIPResNetEncoder(visual)
    if kind == 'TimmModel' and trunk in TIMM_VIT_TRUNKS:
        return CLIPTimmViTEncoder(visual)
    if kind == 'TimmModel' and trunk == 'ConvNeXt':     # MaskCLIP's dense read-out only
        return CLIPConvNeXtEncoder(visual)
    return CLIPImageEncoder(visual)


@MODELS.register_module()
class OpenCLIP(BaseModule):
    """A CLIP model from open_clip, split into an image encoder E_v and a text encoder E_t.

    TCL and CoDe keep every CLIP weight frozen (TCL Sec. 3.4; CoDe Sec. 4.1); ``frozen=True`` sets
    ``requires_grad=False`` on all of them and keeps the towers in eval mode whatever ``train()`` says.
    Trainable copies (TCL's last image block, the image projection) are made by the segmenters.

    Args:
        model_name: open_clip architecture, e.g. ``'ViT-B-16'`` or the tiny ``'mmcode-tiny-vit-p16'``.
        pretrained: open_clip tag (``'openai'``), a local weights file, or ``None`` for random init.
        cache_dir: open_clip download cache.
        force_quick_gelu: QuickGELU activations (OpenAI weights loaded from a local file need it).
        frozen: freeze all CLIP weights.
        grad_checkpointing: recompute the CLIP blocks' activations in backward (image and text towers) to
            save memory in the passes that backpropagate through the frozen encoders.
        init_cfg: mmengine init config (unused by default: weights come from ``pretrained``).

    Attributes:
        image_encoder: E_v (:func:`build_image_encoder`).
        text_encoder (CLIPTextEncoder): E_t.
        embed_dim (int): D, the joint embedding size (512 for ViT-B/16).
    """

    def __init__(self,
                 model_name: str,
                 pretrained: Optional[str] = None,
                 cache_dir: Optional[str] = None,
                 force_quick_gelu: bool = False,
                 frozen: bool = True,
                 grad_checkpointing: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.model_name = model_name
        self.pretrained = pretrained
        known_cfg = open_clip.get_model_config(model_name) if model_name in list_clip_models() else None
        if known_cfg is not None:      # a missing optional tokenizer dependency fails before the (large) model builds
            build_tokenizer(model_name, context_length=known_cfg.get('text_cfg', {}).get('context_length'))
        clip = build_open_clip(model_name, pretrained, cache_dir=cache_dir, force_quick_gelu=force_quick_gelu)
        tokenizer = build_tokenizer(model_name, context_length=int(clip.context_length))
        self.image_encoder = build_image_encoder(clip.visual)
        self.text_encoder = CLIPTextEncoder(clip, tokenizer)
        self.embed_dim = self.image_encoder.embed_dim
        self.set_grad_checkpointing(grad_checkpointing)
        self.frozen = frozen
        if frozen:
            self.requires_grad_(False)
            super().train(False)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Activation checkpointing of the CLIP blocks (both towers)."""
        self.image_encoder.grad_checkpointing = enable
        self.text_encoder.transformer.grad_checkpointing = enable

    def train(self, mode: bool = True) -> 'OpenCLIP':
        return super().train(False if self.frozen else mode)

    def init_weights(self) -> None:
        # Weights come from open_clip at construction; mmengine's default init must not overwrite them.
        if self.init_cfg is not None:
            super().init_weights()

    @torch.no_grad()
    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
