"""``TCL``: text-grounded contrastive learning (Cha et al., CVPR 2023) on whole captions.

Training step for a batch of B images ``X`` (``B×3×H×W``) and their captions:

    t      = E_t(caption)                                  T×D   (frozen CLIP text encoder; T = B)
    V      = F_v(X)                                        B×D×h×w   (image segmenter = decode head, stride 4)
    t_all  = gather(t)                                     N×D   (N = T·world, with gradients)
    M      = σ(w·cos(V_t, t_all) + b)                      T×N×h×w  soft masks (logits L; computed B×N×h×w, once
                                                                     per image, when texts share images)
    M⁺_t   = GumbelST(L[t, pos(t)])                        T×1×h×w  hard positive masks
    Ĥ_t    = fill_background(X_t, M⁺_t↑nearest)            (TCL: X·M, zero background in normalised space)
    e_v    = E_v(Ĥ)                                        T×D   (frozen CLIP, standard attention; grads reach M)
    losses = TCLLoss(e_v, t, V, M)                         (loss_tcl_img, loss_tcl_feat, loss_area, ...)

Override points for CoDe (which subclasses TCL):
    * :meth:`encode_train_texts` — returns ``TrainTexts``: ``emb`` (T×D), ``image_index`` (T, index of each
      text's image in the batch, e.g. ``arange(B).repeat(J)`` for noun-major nouns; None = identity) and
      ``valid`` (T bool or None), plus anything else the subclass wants to carry.
    * :meth:`fill_background` — H_v from images and the upsampled hard mask (CoDe: P_v highlighting).
    * :meth:`image_side_loss` — runs the above and returns ``(losses, aux)``; ``aux`` holds ``feats`` (B×D×h×w,
      unnormalised V^s per image), ``logits``/``soft_masks`` (B×N×h×w per image: the pair (text t, text n) is
      row ``image_index[t]``, computed once per image, not once per text), ``hard_pos`` (T×1×h×w), ``hard_pos_up``
      (T×1×H×W), ``images`` (T×3×H×W), ``filled_images`` (H_v), ``image_emb`` (e_v, unnormalised),
      ``text_emb``, ``image_index``, ``valid``, ``pos_index``. CoDe reuses e_v for L_hcl.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.dist import get_dist_info
from mmseg.registry import MODELS

from ..losses.infonce import gather_with_grad
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
    """TCL segmentor: :class:`TextSupervisedSegmentor` (decode head ``ImageSegmenter``, text classifier
    ``TextClassifier``) + TCL's training loss on whole captions.

    Args:
        loss_seg: ``TCLLoss`` config (L^v_seg weights).
        **kwargs: :class:`TextSupervisedSegmentor` arguments.
    """

    trains_on_caption_tokens = True

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
        rank, _ = get_dist_info()
        text_emb = texts.emb
        image_index = texts.image_index
        t = text_emb.shape[0]
        with torch.no_grad():
            tokens, grid = self.image_encoder.forward_features(inputs)
        feats = self.decode_head.dense_features(tokens, grid)                 # B×D×h×w
        images = inputs if image_index is None else inputs[image_index]     # T×3×H×W
        all_text = gather_with_grad(text_emb)                                 # N×D
        sim2mask = self.decode_head.sim2mask
        # all pairs once per image (texts of the same image share its row): B×N×h×w, row t = image_index[t];
        # V^s is L2-normalised once for the cosine and (CoDe) the loss's pooling and TV
        nfeats = F.normalize(feats, dim=1, eps=1e-6)
        logits, soft = sim2mask(nfeats, all_text, feats_normalized=True)
        rows = torch.arange(t, device=logits.device)
        pos_index = rows + t * rank
        img_rows = rows if image_index is None else image_index
        hard_pos = sim2mask.hard(logits[img_rows, pos_index].unsqueeze(1))    # T×1×h×w
        hard_up = F.interpolate(hard_pos, size=images.shape[-2:], mode='nearest')
        filled = self.fill_background(images, hard_up)
        image_emb = self.image_encoder.encode_image(filled)
        losses = self.loss_seg(image_emb=image_emb, text_emb=text_emb, feats=feats, soft_masks=soft,
                               valid=texts.valid, image_index=image_index, normalized_feats=nfeats)
        aux = dict(feats=feats, logits=logits, soft_masks=soft, hard_pos=hard_pos, hard_pos_up=hard_up,
                   images=images, filled_images=filled, image_emb=image_emb, text_emb=text_emb,
                   image_index=image_index, valid=texts.valid, pos_index=pos_index)
        return losses, aux

    def loss(self, inputs: torch.Tensor, data_samples: list) -> dict:
        """Loss dict: ``loss_tcl_img``, ``loss_tcl_feat``, ``loss_area``, ``loss_neg_area``, ``loss_tv_img``,
        ``loss_tv_mask`` (each weighted; MMEngine sums every key containing 'loss')."""
        self.text_encoder.invalidate_cache()
        texts = self.encode_train_texts(inputs, data_samples)
        losses, _ = self.image_side_loss(inputs, texts)
        return losses
