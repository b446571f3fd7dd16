"""``MGCA``: multi-grained cross-modal alignment (Liu et al., ECCV 2024) on the plugin's text-supervised base.

Training step, B images ``X`` (``B×3×224×224``) with one caption each (original or noun prompt, chosen by the
``MGCANounPromptCaption`` transform):

    T = E_t(caption)                        B×C     frozen CLIP text encoder (unnormalised)
    F = E_v(X)                              B×C×14×14   frozen CLIP, MaskCLIP last block (no gradient)
    V = D_v(F)                              B×C×28×28 → B×L×C, L = 784 (trainable decode head ``MGCAHead``, 4.72M)
    losses = MGCALoss(V, T)                 loss_obj + loss_reg + loss_pix (Eq. 2-8)

Inference is the base's (mmseg's slide/whole inference and post-processing; ``MGCAHead`` scores with adaptive
semantic units and a class softmax; the text classifier is TCL's prompt ensemble, ``'custom'``), except that with
sliding windows and ``test_cfg.units='image'`` (default, the paper's "36 semantic units per image", Sec. 4.1) the
windows' pixel embeddings are stitched into one map per image before the units are formed
(:meth:`MGCA.slide_inference`). MGCA has no KP branch: ``test_cfg.kp_weight`` is forced to 0.
"""
from __future__ import annotations

import math
from typing import Optional, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.registry import MODELS

from mmseg_code.models.segmentors.base import DEFAULT_TEST_CFG, TextSupervisedSegmentor
from mmseg_code.utils.options import OptionError

from .semantic_unit import unit_grid

MGCA_TEST_CFG = dict(num_units=36, units='image', temperature=0.07, kp_weight=0.0, pamr=False)
UNIT_SCOPES = ('image', 'window')


def _axis(lo: int, hi: int, size: int, cells: int, stride: int) -> tuple[int, int, torch.Tensor]:
    """Canvas cells ``[j0, j1)`` a window ``[lo, hi)`` of an axis of ``size`` pixels fills, and their centres in the
    window's embedding coordinates (cell j's centre is pixel (j + ½)·s; a window takes the cells whose centre it
    contains, and every cell past the image's end when it touches that end)."""
    j0 = math.ceil(lo / stride - 0.5)
    j1 = cells if hi >= size else math.ceil(hi / stride - 0.5)
    u = ((torch.arange(j0, j1, dtype=torch.float64) + 0.5) * stride - lo) / stride - 0.5
    return j0, j1, u


def paste_window(canvas: torch.Tensor, count: torch.Tensor, feats: torch.Tensor, box: tuple, image_size: tuple,
                 stride: int) -> None:
    """Add a window's embeddings ``feats`` (``B×C×h×w``, one per ``stride`` pixels from the window's corner) to the
    image ``canvas`` (``B×C×ceil(H/s)×ceil(W/s)``) and 1 to ``count`` on the cells it fills (:func:`_axis`), sampled
    bilinearly at the cell centres (border clamped). Windows whose offsets are multiples of s paste their embeddings
    unchanged."""
    y1, y2, x1, x2 = box
    r0, r1, u = _axis(y1, y2, image_size[0], canvas.shape[-2], stride)
    c0, c1, v = _axis(x1, x2, image_size[1], canvas.shape[-1], stride)
    h, w = feats.shape[-2:]
    gy = ((u + 0.5) / h * 2 - 1).to(feats.dtype)
    gx = ((v + 0.5) / w * 2 - 1).to(feats.dtype)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing='xy'), dim=-1)            # (r1-r0)×(c1-c0)×2, (x, y)
    grid = grid.to(feats.device).unsqueeze(0).expand(feats.shape[0], -1, -1, -1)
    canvas[..., r0:r1, c0:c1] += F.grid_sample(feats, grid, mode='bilinear', padding_mode='border',
                                               align_corners=False)
    count[..., r0:r1, c0:c1] += 1


@MODELS.register_module()
class MGCA(TextSupervisedSegmentor):
    """Frozen CLIP (image and text) + trainable pixel decoder D_v (the decode head), trained with ``MGCALoss``.

    Args:
        clip: ``OpenCLIP`` config (frozen).
        decode_head: ``MGCAHead`` config (D_v and the meta-point inference).
        loss_mgca: ``MGCALoss`` config.
        test_cfg: the base's keys plus ``num_units`` (meta-points per window; int square or ``(g_h, g_w)``;
            ``None``/0 = plain per-pixel inference), ``units`` (``'image'``: the units of a slide inference are
            formed on the stitched pixel embeddings of the whole image, as the paper; ``'window'``: per sliding
            window) and ``temperature`` (τ of the class softmax, 0.07).
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
        if cfg['units'] not in UNIT_SCOPES:
            raise OptionError(f"test_cfg.units must be 'image' or 'window', got {cfg['units']!r}.")
        if not cfg['temperature'] > 0:
            raise OptionError(f'test_cfg.temperature must be > 0, got {cfg["temperature"]!r}.')
        return cfg

    # ------------------------------------------------------------------ inference
    def slide_inference(self, inputs: torch.Tensor, batch_img_metas: list) -> torch.Tensor:
        """mmseg's sliding windows (same window positions). ``units='window'`` (or no units): mmseg's own, each
        window scored on its own and the scores averaged. ``units='image'``: the windows' normalised pixel
        embeddings are stitched into one ``ceil(H/s)×ceil(W/s)`` map (s = the head's stride, :func:`paste_window`:
        averaged where windows overlap, renormalised), which :meth:`MGCAHead.predict_image` scores with the units of
        the whole image."""
        cfg = self.test_cfg
        if not cfg['num_units'] or cfg['units'] == 'window':
            return super().slide_inference(inputs, batch_img_metas)
        h_stride, w_stride = cfg['stride']
        h_crop, w_crop = cfg['crop_size']
        _, _, h_img, w_img = inputs.shape
        head = self.decode_head
        canvas = count = None
        h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
        w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
        for h_idx in range(h_grids):
            for w_idx in range(w_grids):                       # window positions as mmseg's slide_inference
                y2, x2 = min(h_idx * h_stride + h_crop, h_img), min(w_idx * w_stride + w_crop, w_img)
                y1, x1 = max(y2 - h_crop, 0), max(x2 - w_crop, 0)
                crop = inputs[:, :, y1:y2, x1:x2]
                feats = head.window_embeddings(self.image_encoder(crop), crop)
                if canvas is None:
                    hc, wc = -(-h_img // head.stride), -(-w_img // head.stride)
                    canvas = feats.new_zeros(feats.shape[0], feats.shape[1], hc, wc)
                    count = feats.new_zeros(1, 1, hc, wc)
                paste_window(canvas, count, feats, (y1, y2, x1, x2), (h_img, w_img), head.stride)
        assert bool((count > 0).all())
        canvas = F.normalize(canvas / count, dim=1, eps=1e-6)
        return head.predict_image(canvas, inputs, self.text_encoder(), cfg)

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
