"""``TCL``: text-grounded contrastive learning (Cha et al., CVPR 2023) on whole captions.

Training step for a batch of B images ``X`` (``B×3×H×W``) and their captions:

    t      = E_t(caption)                                  T×D   (frozen CLIP text encoder; T = B)
    V      = F_v(X)                                        B×D×h×w   (image segmenter, stride 4)
    t_all  = gather(t)                                     N×D   (N = T·world, with gradients)
    M      = σ(w·cos(V_t, t_all) + b)                      T×N×h×w  soft masks (logits L)
    M⁺_t   = GumbelST(L[t, pos(t)])                        T×1×h×w  hard positive masks
    Ĥ_t    = fill_background(X_t, M⁺_t↑nearest)            (TCL: X·M, zero background in normalised space)
    e_v    = E_v(Ĥ)                                        T×D   (frozen CLIP, standard attention; grads reach M)
    losses = TCLLoss(e_v, t, V, M)                         (loss_tcl_img, loss_tcl_feat, loss_area, ...)

Override points for CoDe (which subclasses TCL):
    * :meth:`encode_train_texts` — returns ``TrainTexts``: ``emb`` (T×D), ``image_index`` (T, index of each
      text's image in the batch, e.g. ``arange(B).repeat(J)`` for noun-major nouns; None = identity) and
      ``valid`` (T bool or None), plus anything else the subclass wants to carry.
    * :meth:`fill_background` — H_v from images and the upsampled hard mask (CoDe: P_v highlighting).
    * :meth:`image_side_loss` — runs the above and returns ``(losses, aux)``; ``aux`` holds ``feats`` (T×D×h×w,
      unnormalised V^s), ``logits``/``soft_masks`` (T×N×h×w), ``hard_pos`` (T×1×h×w), ``hard_pos_up``
      (T×1×H×W), ``images`` (T×3×H×W), ``filled_images`` (H_v), ``image_emb`` (e_v, unnormalised),
      ``text_emb``, ``image_index``, ``valid``, ``pos_index``. CoDe reuses e_v for L_hcl.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from ..losses.infonce import dist_info, gather_with_grad
from .base import TextSupervisedSegmentor


class TrainTexts(dict):
    """Per-step training texts: ``emb`` T×D, ``image_index`` T | None, ``valid`` T | None (+ extras)."""

    @property
    def emb(self) -> torch.Tensor:
        return self['emb']

    @property
    def image_index(self) -> Optional[torch.Tensor]:
        return self.get('image_index')

    @property
    def valid(self) -> Optional[torch.Tensor]:
        return self.get('valid')


@MODELS.register_module()
class TCL(TextSupervisedSegmentor):
    """TCL segmentor: :class:`TextSupervisedSegmentor` + TCL's training loss on whole captions.

    Args:
        loss_seg: ``TCLLoss`` config (L^v_seg weights).
        **kwargs: :class:`TextSupervisedSegmentor` arguments.
    """

    def __init__(self, loss_seg: dict = dict(type='TCLLoss'), **kwargs) -> None:
        super().__init__(**kwargs)
        self.loss_seg = MODELS.build(loss_seg)

    # ------------------------------------------------------------------ override points
    def encode_train_texts(self, inputs: torch.Tensor, data_samples: list) -> TrainTexts:
        """TCL: one caption per image, ``emb`` = frozen CLIP text embedding of ``text_ids`` (B×D)."""
        ids = torch.stack([s.text_ids for s in data_samples]).to(inputs.device)
        with torch.no_grad():
            emb = self.clip.text_encoder.encode(ids)
        return TrainTexts(emb=emb, image_index=None, valid=None)

    def fill_background(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """TCL: ``X·M`` (masked-out pixels become 0, the mean colour in normalised space).

        Args:
            images: ``T×3×H×W`` normalised images.
            masks: ``T×1×H×W`` hard masks (straight-through).
        """
        return images * masks.to(images.dtype)

    # ------------------------------------------------------------------ training
    def image_side_loss(self, inputs: torch.Tensor, texts: TrainTexts) -> tuple[dict, dict]:
        """TCL's image-side computation and L^v_seg; returns ``(losses, aux)`` (see module docstring)."""
        rank, _ = dist_info()
        text_emb = texts.emb
        image_index = texts.image_index
        t = text_emb.shape[0]
        feats = self.dense_features(inputs, normalize=False)                  # B×D×h×w
        images = inputs
        if image_index is not None:
            feats, images = feats[image_index], inputs[image_index]          # T×…
        all_text = gather_with_grad(text_emb)                                 # N×D
        sim2mask = self.image_segmenter.sim2mask
        logits, soft = sim2mask(feats, all_text)                              # T×N×h×w
        rows = torch.arange(t, device=logits.device)
        pos_index = rows + t * rank
        hard_pos = sim2mask.hard(logits[rows, pos_index].unsqueeze(1))        # T×1×h×w
        hard_up = F.interpolate(hard_pos, size=images.shape[-2:], mode='nearest')
        filled = self.fill_background(images, hard_up)
        image_emb = self.clip.image_encoder.encode_image(filled)
        losses = self.loss_seg(image_emb=image_emb, text_emb=text_emb, feats=feats, soft_masks=soft,
                               valid=texts.valid)
        aux = dict(feats=feats, logits=logits, soft_masks=soft, hard_pos=hard_pos, hard_pos_up=hard_up,
                   images=images, filled_images=filled, image_emb=image_emb, text_emb=text_emb,
                   image_index=image_index, valid=texts.valid, pos_index=pos_index)
        return losses, aux

    def loss(self, inputs: torch.Tensor, data_samples: list) -> dict:
        """Loss dict: ``loss_tcl_img``, ``loss_tcl_feat``, ``loss_area``, ``loss_neg_area``, ``loss_tv_img``,
        ``loss_tv_mask`` (each weighted; MMEngine sums every key containing 'loss')."""
        self.invalidate_vocabulary_cache()
        texts = self.encode_train_texts(inputs, data_samples)
        losses, _ = self.image_side_loss(inputs, texts)
        return losses
