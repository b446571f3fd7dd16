"""``MGCA``: multi-grained cross-modal alignment (Liu et al., ECCV 2024) on the plugin's text-supervised base.

Training step, B images ``X`` (``B×3×224×224``) with one caption each (original or noun prompt, chosen by the
``MGCANounPromptCaption`` transform):

    T = E_t(caption)                        B×C     frozen CLIP text encoder (unnormalised)
    F = E_v(X)                              B×C×14×14   frozen CLIP, MaskCLIP last block (no gradient)
    V = D_v(F)                              B×C×28×28 → B×L×C, L = 784 (trainable ``MGCADecoder``, 4.72M)
    losses = MGCALoss(V, T)                 loss_obj + loss_reg + loss_pix (Eq. 2-8)

Inference per window (``encode_decode`` of the base: padding, resize, background plane, slide averaging):

    V̂ = normalise(D_v(E_v(x)))                              B×C×h×w (h = H/8)
    V̂ ← MGCASemanticUnit(V̂)   if test_cfg.num_units        adaptive semantic units (Sec. 3.3), per window
    z_k = max_{s∈syn(k)} cos(V̂, t_s)                        B×K×h×w, t = TCL's prompt ensemble ('custom')
    m = softmax_k(z / τ_test)                                GroupViT-style softmax-normalised similarity
    m ← PAMR(m)                if test_cfg.pamr              (MGCA reports without)

The base then adds the constant ``bg_thresh`` plane (background iff max_k m_k ≤ bg_thresh) and averages windows.
MGCA has no KP branch: ``test_cfg.kp_weight`` is forced to 0.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.registry import MODELS

from mmseg_code.models.segmentors.base import DEFAULT_TEST_CFG, TextSupervisedSegmentor
from mmseg_code.models.vocab import reduce_synonyms

MGCA_TEST_CFG = dict(num_units=36, temperature=0.07, kp_weight=0.0, pamr=False)


@MODELS.register_module()
class MGCA(TextSupervisedSegmentor):
    """Frozen CLIP (image and text) + trainable pixel decoder D_v, trained with ``MGCALoss``.

    Args:
        clip: ``OpenCLIP`` config (frozen).
        image_segmenter: ``MGCADecoder`` config (D_v).
        loss_mgca: ``MGCALoss`` config.
        test_cfg: the base's keys plus ``num_units`` (meta-points per window; int square or ``(g_h, g_w)``;
            ``None``/0 = plain per-pixel inference) and ``temperature`` (τ of the class softmax, 0.07).
        **kwargs: :class:`TextSupervisedSegmentor` arguments (vocabulary, background, templates, …).
    """

    default_test_cfg = dict(DEFAULT_TEST_CFG, **MGCA_TEST_CFG)

    def __init__(self,
                 clip: dict,
                 image_segmenter: dict = dict(type='MGCADecoder'),
                 loss_mgca: dict = dict(type='MGCALoss'),
                 test_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        cfg = dict(test_cfg or {})
        if cfg.get('kp_weight', 0):
            print_log(f'MGCA has no KP branch: test_cfg.kp_weight={cfg["kp_weight"]} is ignored (set to 0).',
                      logger='current')
            cfg['kp_weight'] = 0.0
        super().__init__(clip=clip, image_segmenter=image_segmenter, test_cfg=cfg, **kwargs)
        self.loss_mgca = MODELS.build(loss_mgca)
        self.semantic_unit = None
        num_units = self.test_cfg['num_units']
        if num_units:
            self.semantic_unit = MODELS.build(dict(type='MGCASemanticUnit', num_units=num_units))

    # ------------------------------------------------------------------ features
    def dense_features(self, inputs: torch.Tensor, normalize: bool = True, return_tokens: bool = False):
        """Pixel embeddings V = D_v(E_v(x)) ``B×C×(H/8)×(W/8)`` (E_v frozen, no gradient).

        With ``return_tokens`` returns ``(V, None, grid)`` (MGCA does not use the pre-last-block tokens).
        """
        with torch.no_grad():
            clip_dense = self.clip.image_encoder.encode_dense(inputs)                  # B×C×h×w
        feats = self.image_segmenter(clip_dense, normalize=normalize)
        return (feats, None, tuple(clip_dense.shape[-2:])) if return_tokens else feats

    def class_scores(self, feats: torch.Tensor) -> torch.Tensor:
        """Softmax-normalised class scores ``B×K×h×w`` of normalised features ``B×C×h×w`` (units applied here)."""
        emb = self.vocabulary_embeddings()
        if self.semantic_unit is not None:
            feats = self.semantic_unit(feats)
        sim = torch.einsum('bchw,sc->bshw', feats.float(), emb['masker'].float())
        sim = reduce_synonyms(sim, emb['syn2cls'], len(self.vocabulary.names))
        return (sim / self.test_cfg['temperature']).softmax(dim=1)

    def foreground_masks(self, x: torch.Tensor) -> torch.Tensor:
        """One padded window → ``B×K×(H̃/8)×(W̃/8)`` scores in [0, 1] (see the module docstring)."""
        masks = self.class_scores(self.dense_features(x, normalize=True))
        if self.pamr is not None:
            img = F.interpolate(x, size=masks.shape[-2:], mode='bilinear', align_corners=True)
            masks = self.pamr(img, masks)
        return masks

    # ------------------------------------------------------------------ training
    def encode_train_texts(self, inputs: torch.Tensor, data_samples: list) -> torch.Tensor:
        """Frozen CLIP text embeddings ``B×C`` of the packed caption ids (``text_ids``)."""
        ids = torch.stack([s.text_ids for s in data_samples]).to(inputs.device)
        with torch.no_grad():
            return self.clip.text_encoder.encode(ids)

    def loss(self, inputs: torch.Tensor, data_samples: list) -> dict:
        """``dict(loss_obj, loss_reg, loss_pix)`` (Eq. 8: MMEngine sums every ``loss*`` key)."""
        self.invalidate_vocabulary_cache()
        text_emb = self.encode_train_texts(inputs, data_samples)
        feats = self.dense_features(inputs, normalize=False)                           # B×C×h×w
        pixel_emb = feats.flatten(2).transpose(1, 2)                                    # B×L×C
        return self.loss_mgca(pixel_emb, text_emb)

    def set_num_units(self, num_units: Optional[Union[int, tuple]]) -> None:
        """Switch between adaptive semantic units (``num_units``) and per-pixel inference (``None``)."""
        self.test_cfg['num_units'] = num_units
        self.semantic_unit = MODELS.build(dict(type='MGCASemanticUnit', num_units=num_units)) if num_units else None
