"""open_clip's ``ClipLoss`` with several positives per image and per text (identical texts merged into one column).

For ``B`` images with normalised embeddings ``v̂`` (``B×D``), ``T`` texts ``t̂`` (``T×D``), the temperature scale
``s`` and the positives ``P`` (``B×T`` bool, every row and column with at least one True; see
:mod:`mmseg_code.models.clip_pretrain.batch_texts`):

    L_i2t = 1/B Σ_i CE( s v̂_i t̂ᵀ ,  P_i: / Σ_k P_ik )        (soft target over the T texts)
    L_t2i = 1/T Σ_j CE( s t̂_j v̂ᵀ ,  P_:j / Σ_k P_kj )        (soft target over the B images)
    L = ½ (L_i2t + L_t2i)

With ``P = I`` (one distinct text per image) this is ``ClipLoss`` itself, which it subclasses for the logits.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from open_clip.loss import ClipLoss


@MODELS.register_module()
class MultiPositiveClipLoss(ClipLoss):
    """``ClipLoss`` with a positives matrix (module doc). ``positives=None`` is plain ``ClipLoss``.

    The positives of a batch are known only to the process that built its texts, so features are not gathered
    across ranks here (``world_size`` must stay 1); data-parallel training averages the per-rank losses.
    """

    def __init__(self, **kwargs) -> None:
        if int(kwargs.get('world_size', 1)) != 1:
            raise ValueError('MultiPositiveClipLoss: world_size must be 1 (positives are per process; ranks average '
                             'their losses)')
        super().__init__(**kwargs)

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor,
                positives: Optional[torch.Tensor] = None, logit_bias: Optional[torch.Tensor] = None,
                output_dict: bool = False):
        if positives is None:
            return super().forward(image_features, text_features, logit_scale, logit_bias, output_dict)
        if positives.shape != (image_features.shape[0], text_features.shape[0]):
            raise ValueError(f'MultiPositiveClipLoss: positives {tuple(positives.shape)} do not match '
                             f'{image_features.shape[0]} images x {text_features.shape[0]} texts')
        target = positives.to(image_features.dtype)
        if (target.sum(1) == 0).any() or (target.sum(0) == 0).any():
            raise ValueError('MultiPositiveClipLoss: every image and every text needs at least one positive')
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale, logit_bias)
        target_i = target / target.sum(1, keepdim=True)
        target_t = target.t() / target.t().sum(1, keepdim=True)
        total_loss = (F.cross_entropy(logits_per_image, target_i) + F.cross_entropy(logits_per_text, target_t)) / 2
        return {'contrastive_loss': total_loss} if output_dict else total_loss
