"""CLIP ConvNeXt image tower (open_clip ``TimmModel`` with a timm ``ConvNeXt`` trunk: ``convnext_base``,
``convnext_large_d``, …) with MaskCLIP's dense read-out: the pooling head applied at every position.

open_clip's ConvNeXt CLIPs pool globally (timm's head: ``avg`` pool → ``norm`` → [``pre_logits`` MLP]) and project
(open_clip's ``head``: ``proj`` linear or ``mlp``). The dense read-out skips the pool and applies the rest per
position of the last feature map, as MaskCLIP reads a CLIP ResNet's attention pool (``resnet_encoder``)::

    X = norm_pre(stages(stem(x)))                    B×C×h×w      h = H/s, w = W/s (s = 32: stem /4, stages 2..4 /2)
    V = clip_head(fc(pre_logits(LN_C(X))))           B×D×h×w      LN_C: the head's LayerNorm over channels at each
                                                                  position; fc = Identity (``num_classes=0``)

Mean-pooling before the (non-linear) LayerNorm is what :meth:`encode_image` does; V is not its per-position
decomposition, as MaskCLIP's value path is not one of the ResNet's attention pool. Only this read-out exists: the
training-free MaskCLIP segmentor runs on it; the token methods (SCLIP / ClearCLIP / NACLIP, TCL's and CoDe's trainable
last ViT block) stop with one line.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ...utils.tool import UserError
from .resnet_encoder import ConvCLIPEncoder

CONV_ONLY = ('needs a ViT CLIP (tokens and a last transformer block); open_clip ConvNeXt towers (convnext_base, …) '
             "support the training-free MaskCLIP only (TrainingFreeHead, last_block='maskclip').")


class CLIPConvNeXtEncoder(ConvCLIPEncoder):
    """Frozen open_clip timm-ConvNeXt tower with MaskCLIP's dense read-out (module docstring).

    Args:
        visual: an open_clip ``TimmModel`` whose ``trunk`` is a timm ``ConvNeXt`` with its default (``avg``) pool.
    """

    vit_only = CONV_ONLY

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        trunk = getattr(visual, 'trunk', None)
        if type(trunk).__name__ != 'ConvNeXt':
            raise UserError(f'CLIPConvNeXtEncoder needs an open_clip TimmModel with a timm ConvNeXt trunk, got '
                            f'{type(trunk).__name__}.')
        head = trunk.head
        if not all(hasattr(head, n) for n in ('global_pool', 'norm', 'pre_logits', 'fc')) or \
                getattr(head.global_pool, 'pool_type', 'avg') not in ('avg', 'fast'):
            raise UserError('CLIPConvNeXtEncoder needs the ConvNeXt head pool → norm → pre_logits → fc with average '
                            "pooling (open_clip's timm_pool '' keeps it).")
        if any(name in ('pool',) for name, _ in visual.head.named_children()):
            raise UserError("open_clip ConvNeXt with timm_pool 'abs_attn'/'rot_attn' is not supported.")
        self.visual = visual
        self.patch_size = int(trunk.feature_info[-1]['reduction'])
        self.width = int(trunk.num_features)
        with torch.no_grad():
            w = trunk.stem[0].weight
            self.embed_dim = int(self.dense_from_map(torch.zeros(1, self.width, 1, 1, dtype=w.dtype,
                                                                 device=w.device)).shape[1])
        self.grad_checkpointing = False

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """X: the last feature map ``B×C×h×w`` of images ``B×3×H×W`` (H, W multiples of s)."""
        return self.visual.trunk.forward_features(x)

    def dense_from_map(self, fmap: torch.Tensor) -> torch.Tensor:
        """V per position: ``B×C×h×w`` → ``B×D×h×w`` (unnormalised)."""
        head = self.visual.trunk.head
        y = head.norm(fmap).permute(0, 2, 3, 1)                               # LayerNorm2d over C, then B×h×w×C
        y = self.visual.head(head.fc(head.pre_logits(y)))
        return y.permute(0, 3, 1, 2)
