"""``MGCA``: multi-grained cross-modal alignment (Liu et al., ECCV 2024) on the plugin's text-supervised base.

Training step, B images ``X`` (``B×3×224×224``) with one caption each (original or noun prompt, chosen by the
``MGCANounPromptCaption`` transform):

    T = E_t(caption)                        B×C     frozen CLIP text encoder (unnormalised)
    F = E_v(X)                              B×C×14×14   frozen CLIP, MaskCLIP last block (no gradient)
    V = D_v(F)                              B×C×28×28 → B×L×C, L = 784 (trainable decode head ``MGCAHead``, 4.72M)
    losses = MGCALoss(V, T)                 loss_obj + loss_reg + loss_pix (Eq. 2-8)

Inference is the base's (mmseg's slide/whole inference and post-processing; ``MGCAHead`` scores a window with
adaptive semantic units and a class softmax; the text classifier is TCL's prompt ensemble, ``'custom'``).
MGCA has no KP branch: ``test_cfg.kp_weight`` is forced to 0.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from mmengine.logging import print_log
from mmseg.registry import MODELS

from mmseg_code.models.segmentors.base import DEFAULT_TEST_CFG, TextSupervisedSegmentor
from mmseg_code.utils.options import OptionError

from .semantic_unit import unit_grid

MGCA_TEST_CFG = dict(num_units=36, temperature=0.07, kp_weight=0.0, pamr=False)


@MODELS.register_module()
class MGCA(TextSupervisedSegmentor):
    """Frozen CLIP (image and text) + trainable pixel decoder D_v (the decode head), trained with ``MGCALoss``.

    Args:
        clip: ``OpenCLIP`` config (frozen).
        decode_head: ``MGCAHead`` config (D_v and the meta-point inference).
        loss_mgca: ``MGCALoss`` config.
        test_cfg: the base's keys plus ``num_units`` (meta-points per window; int square or ``(g_h, g_w)``;
            ``None``/0 = plain per-pixel inference) and ``temperature`` (τ of the class softmax, 0.07).
        **kwargs: :class:`TextSupervisedSegmentor` arguments (text_encoder, vocabulary, background, …).
    """

    default_test_cfg = dict(DEFAULT_TEST_CFG, **MGCA_TEST_CFG)

    def __init__(self,
                 clip: dict,
                 decode_head: dict = dict(type='MGCAHead'),
                 loss_mgca: dict = dict(type='MGCALoss'),
                 test_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        cfg = dict(test_cfg or {})
        if cfg.get('kp_weight', 0):
            print_log(f'MGCA has no KP branch: test_cfg.kp_weight={cfg["kp_weight"]} is ignored (set to 0).',
                      logger='current')
            cfg['kp_weight'] = 0.0
        super().__init__(clip=clip, decode_head=decode_head, test_cfg=cfg, **kwargs)
        self.loss_mgca = MODELS.build(loss_mgca)

    @classmethod
    def check_test_cfg(cls, test_cfg: Optional[dict]) -> dict:
        """The base's checks, plus a usable ``num_units`` (a perfect square or a grid) and ``temperature`` > 0."""
        cfg = super().check_test_cfg(test_cfg)
        if cfg['num_units']:
            try:
                unit_grid(cfg['num_units'])
            except (TypeError, ValueError) as err:
                raise OptionError(f'test_cfg.num_units: {err}') from None
        if not cfg['temperature'] > 0:
            raise OptionError(f'test_cfg.temperature must be > 0, got {cfg["temperature"]!r}.')
        return cfg

    # ------------------------------------------------------------------ training
    def encode_train_texts(self, inputs: torch.Tensor, data_samples: list) -> torch.Tensor:
        """Frozen CLIP text embeddings ``B×C`` of the packed caption ids (``text_ids``)."""
        ids = torch.stack([s.text_ids for s in data_samples]).to(inputs.device)
        with torch.no_grad():
            return self.clip.text_encoder.encode(ids)

    def loss(self, inputs: torch.Tensor, data_samples: list) -> dict:
        """``dict(loss_obj, loss_reg, loss_pix)`` (Eq. 8: MMEngine sums every ``loss*`` key)."""
        self.text_encoder.invalidate_cache()
        text_emb = self.encode_train_texts(inputs, data_samples)
        feats = self.decode_head(self.image_encoder(inputs))                             # B×C×h×w
        pixel_emb = feats.flatten(2).transpose(1, 2)                                    # B×L×C
        return self.loss_mgca(pixel_emb, text_emb)

    def set_num_units(self, num_units: Optional[Union[int, tuple]]) -> None:
        """Switch between adaptive semantic units (``num_units``) and per-pixel inference (``None``)."""
        self.test_cfg['num_units'] = self.check_test_cfg(dict(self.test_cfg, num_units=num_units))['num_units']
