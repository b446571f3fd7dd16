"""MGCA's decode head: the pixel decoder D_v (Eq. 1, Sec. 4.1 "Architecture") and the meta-point inference (Sec. 3.3).

    F   = E_v(x)          B×C×h×w     frozen CLIP ViT; MaskCLIP/TCL last block (self-only attention) then
                                      ln_post + proj, CLS excluded (``CLIPFeatures.dense``)
    V   = D_v(F)          B×C×2h×2w   one ×2 upsampling + two gated conv blocks of TCL (``GatedDecoder`` with
                                      ``n_layers=1, double=True``), run in the joint space (C = 512 for ViT-B/16)

Trainable parameters (C = 512): 2 × (LN 2·512 + conv 512·512·9 + 512 + gate 1) = 4,721,666 ≈ 4.72M, the
paper's count. There is no trainable copy of the last CLIP block and no output projection (either would exceed
4.72M). At 224×224 input (h = w = 14): L = 28·28 = 784 pixel embeddings; at a 448 window: 56·56 = 3136 (Table 4).

Class scores of a window (:meth:`MGCAHead.class_scores`), for V̂ = normalise(V) and the text classifier's S synonyms
t (TCL's prompt ensemble) of K classes:

    V̂ ← MGCASemanticUnit(V̂)   if test_cfg.num_units        adaptive semantic units (Sec. 3.3), per window
    z_k = max_{s∈syn(k)} cos(V̂, t_s)                        B×K×2h×2w
    m = softmax_k(z / τ_test)                                GroupViT-style softmax-normalised similarity (τ 0.07)

then the base head's PAMR (if ``test_cfg.pamr``; MGCA reports without), resize, crop and ``bg_thresh`` plane
(Sec. 4.2: background by thresholding the softmax-normalised similarity). MGCA has no KP branch.

Semantic units per stitched image (``test_cfg.units='image'``, the default; Sec. 4.1 "aggregated into 36 semantic
units per image"): with sliding windows, ``MGCA.slide_inference`` stitches the windows' normalised pixel embeddings
into one image map first (:meth:`MGCAHead.window_embeddings`, averaged where windows overlap and renormalised), and
:meth:`MGCAHead.predict_image` classifies that map as above, units included, then upsamples it to the image.
``units='window'`` computes the units per window instead (the scores are then averaged by mmseg's slide inference).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from mmseg_code.models.clip.image_encoder import CLIPFeatures, pad_to_patch
from mmseg_code.models.heads.open_vocab_head import background_threshold
from mmseg_code.models.heads.open_vocab_head import OpenVocabularyHead
from mmseg_code.models.text_classifier import ClassEmbeddings
from mmseg_code.models.vocab import reduce_synonyms

from .semantic_unit import MGCASemanticUnit


@MODELS.register_module()
class MGCAHead(OpenVocabularyHead):
    """D_v: ``GatedDecoder`` (×2, two gated 3×3 blocks) on the frozen dense CLIP embeddings, and MGCA's inference.

    Args:
        image_encoder: the frozen ``CLIPImageEncoder`` (passed by the segmentor; its ``embed_dim`` and ``patch_size``
            are read, it is not stored).
        decoder: ``GatedDecoder`` config; ``channels`` defaults to the CLIP embedding size C.
    """

    def __init__(self, image_encoder,
                 decoder: dict = dict(type='GatedDecoder', n_layers=1, double=True, kernel_size=3),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(patch_size=image_encoder.patch_size, init_cfg=init_cfg)
        decoder = dict(decoder)
        decoder.setdefault('channels', image_encoder.embed_dim)
        self.channels = int(decoder['channels'])
        self.decoder = MODELS.build(decoder)

    @property
    def scale(self) -> int:
        return self.decoder.scale

    def forward(self, inputs: CLIPFeatures) -> torch.Tensor:
        """Pixel embeddings V ``B×C×(s·h)×(s·w)`` (s = 2, unnormalised) of the frozen dense CLIP embeddings."""
        return self.decoder(inputs.dense)

    def class_scores(self, feats: torch.Tensor, classes: ClassEmbeddings, test_cfg) -> torch.Tensor:
        """Softmax-normalised class scores ``B×K×h×w`` of normalised features ``B×C×h×w`` (module docstring)."""
        if test_cfg['num_units']:
            feats = MGCASemanticUnit(test_cfg['num_units'])(feats)
        sim = torch.einsum('bchw,sc->bshw', feats.float(), classes.masker.float())
        sim = reduce_synonyms(sim, classes.syn2cls, classes.num_classes)
        return (sim / test_cfg['temperature']).softmax(dim=1)

    # ------------------------------------------------------------------ semantic units per stitched image
    @property
    def stride(self) -> int:
        """Input pixels per pixel embedding: p / 2 (8 for ViT-B/16)."""
        return self.patch_size // self.scale

    @torch.no_grad()
    def window_embeddings(self, clip_feats: CLIPFeatures, window: torch.Tensor) -> torch.Tensor:
        """Normalised pixel embeddings ``B×C×ceil(H/s)×ceil(W/s)`` of one window ``B×3×H×W`` (s = :attr:`stride`):
        the decoder output of the window zero-padded to a multiple of p (as the image encoder pads it), with the
        padding cropped at embedding resolution (rounded to whole embeddings)."""
        s, (h, w) = self.stride, window.shape[-2:]
        _, (pl, _, pt, _) = pad_to_patch(window, self.patch_size)
        feats = F.normalize(self.forward(clip_feats), dim=1, eps=1e-6)
        top, left = int(round(pt / s)), int(round(pl / s))
        return feats[..., top:top + math.ceil(h / s), left:left + math.ceil(w / s)]

    @torch.no_grad()
    def predict_image(self, feats: torch.Tensor, image: torch.Tensor, classes: ClassEmbeddings,
                      test_cfg) -> torch.Tensor:
        """Scores ``B×C×H×W`` of a whole image ``B×3×H×W`` from its stitched normalised pixel embeddings ``feats``
        (``B×C×ceil(H/s)×ceil(W/s)``): class scores (with the semantic units of the whole map), PAMR if asked,
        bilinear upsampling by s and cropping to H×W, background plane."""
        h, w = image.shape[-2:]
        masks = self.class_scores(feats, classes, test_cfg)
        if test_cfg['pamr']:
            img = F.interpolate(image, size=masks.shape[-2:], mode='bilinear', align_corners=True)
            masks = MODELS.build(test_cfg['pamr_cfg'])(img, masks)
        masks = F.interpolate(masks, scale_factor=self.stride, mode='bilinear', align_corners=False)[..., :h, :w]
        if classes.background:
            bg = masks.new_full((masks.shape[0], 1, h, w), background_threshold(test_cfg))
            masks = torch.cat([bg, masks], dim=1)
        return masks
