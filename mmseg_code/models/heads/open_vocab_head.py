"""Open-vocabulary decode head: TCL's inference protocol (TCL Sec. 4.1, ref-tcl.md §4), shared by TCL, CoDe and MGCA.

mmseg's ``MultimodalEncoderDecoder.encode_decode`` calls ``decode_head.predict([x, f, c], batch_img_metas, test_cfg)``
for one window ``x`` (``B×3×H×W``, normalised), its frozen CLIP read-outs ``f`` (``CLIPFeatures`` of x̃, x zero-padded
centrally to a multiple of the patch size p) and the text classifier's ``ClassEmbeddings`` ``c`` (K classes, S
synonyms). :meth:`OpenVocabularyHead.predict_by_feat`, on the head's L2-normalised dense features ``V = forward(f)``:

    1. m = class_scores(V, c)                                  B×K×h'×w'  foreground scores in [0, 1] (the subclass's
                                                                          rule; synonyms reduced by their max)
    2. PAMR (test_cfg.pamr): m ← PAMR(resize(x̃, m.size, bilinear, align_corners=True), m)
                                                               (the post-processor built from test_cfg.pamr_cfg)
    3. KP mix (κ = test_cfg.kp_weight > 0):
       m ← κ·σ(kp_w·cos(f.dense, c.kp) + kp_b)↑ + (1−κ)·m      (MaskCLIP branch, max over synonyms, ↑ bilinear)
    4. m ← bilinear resize (align_corners=False) to H̃×W̃, crop the padding       B×K×H×W
    5. with a background: prepend the constant plane ``bg_thresh``               B×(1+K)×H×W

mmseg then averages overlapping slide windows and its ``postprocess_result`` resizes to the original size and takes
the argmax over classes ("background iff max_k m_k ≤ bg_thresh").

Not an mmseg ``BaseDecodeHead``: its ``__init__`` needs a fixed ``num_classes`` and builds a 1×1 classifier
(``conv_seg``), a cross-entropy loss and dropout, and its ``predict_by_feat`` resizes classifier logits. This head
classifies by the text embeddings of a vocabulary that may change between calls and is trained by the segmentors' own
losses, so it implements the part of the decode-head interface the segmentor calls: ``forward``, ``predict``,
``align_corners``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ...utils.options import OptionError
from ..clip.image_encoder import CLIPFeatures, pad_to_patch
from ..inference_options import autocast_for
from ..pamr import PAMR  # noqa: F401  (registers PAMR for test_cfg.pamr_cfg)
from ..text_classifier import ClassEmbeddings
from ..vocab import reduce_synonyms


def cosine_maps(feats: torch.Tensor, text: torch.Tensor, feats_normalized: bool = False) -> torch.Tensor:
    """Cosine maps ``B×N×H×W`` of features ``B×D×H×W`` and texts ``N×D`` (eps 1e-6).

    ``feats_normalized``: ``feats`` already is ``F.normalize(feats, dim=1, eps=1e-6)`` (shared with a loss).
    """
    if not feats_normalized:
        feats = F.normalize(feats, dim=1, eps=1e-6)
    text = F.normalize(text, dim=-1, eps=1e-6).to(feats.dtype)
    return torch.einsum('bdhw,nd->bnhw', feats, text)


def background_threshold(test_cfg) -> float:
    """``test_cfg.bg_thresh``; None means TCL's 0.4 with PAMR, 0.5 without."""
    t = test_cfg['bg_thresh']
    if t is None:
        t = 0.4 if test_cfg['pamr'] else 0.5
    return float(t)


class OpenVocabularyHead(BaseModule):
    """Base of the open-vocabulary heads: steps 2-5 of the module docstring; subclasses give the dense features
    (:meth:`forward`) and the class scores (:meth:`class_scores`).

    Args:
        patch_size: p of the CLIP image encoder (the padding the image encoder added, which step 4 crops).
        init_cfg: mmengine init config.
    """

    align_corners = False

    def __init__(self, patch_size: int, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.patch_size = int(patch_size)

    def forward(self, inputs: CLIPFeatures) -> torch.Tensor:
        """Dense features ``B×D×h'×w'`` (unnormalised) of the frozen CLIP read-outs of a window."""
        raise NotImplementedError

    def class_scores(self, feats: torch.Tensor, classes: ClassEmbeddings, test_cfg) -> torch.Tensor:
        """Foreground scores ``B×K×h'×w'`` in [0, 1] from L2-normalised features ``B×D×h'×w'``."""
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, inputs: list, batch_img_metas: list, test_cfg) -> torch.Tensor:
        """mmseg's decode-head inference call: ``inputs = [x, f, c]`` (module docstring) → scores ``B×C×H×W``."""
        images, clip_feats, classes = inputs
        with autocast_for(images.device, test_cfg.get('dtype', 'fp32')):
            feats = self.forward(clip_feats)
        # test_cfg.dtype: only the features above are half precision; normalisation, scores, PAMR, KP mix are fp32
        feats = F.normalize(feats.float(), dim=1, eps=1e-6)
        if getattr(clip_feats, 'dense', None) is not None and clip_feats.dense.dtype != torch.float32:
            clip_feats = clip_feats._replace(dense=clip_feats.dense.float())
        return self.predict_by_feat(feats, images, clip_feats, classes, test_cfg)

    def predict_by_feat(self, feats: torch.Tensor, images: torch.Tensor, clip_feats: CLIPFeatures,
                        classes: ClassEmbeddings, test_cfg) -> torch.Tensor:
        """Steps 1-5 of the module docstring: window scores ``B×C×H×W`` (C = K, or 1+K with the background)."""
        h, w = images.shape[-2:]
        x, (pl, _, pt, _) = pad_to_patch(images, self.patch_size)
        masks = self.class_scores(feats, classes, test_cfg)
        if test_cfg['pamr']:
            img = F.interpolate(x, size=masks.shape[-2:], mode='bilinear', align_corners=True)
            masks = MODELS.build(test_cfg['pamr_cfg'])(img, masks)
        kp_weight = test_cfg['kp_weight']
        if kp_weight > 0:
            if classes.kp is None:
                raise OptionError('test_cfg.kp_weight > 0 needs the KP class embeddings, which the text classifier '
                                  'computes only when the model is built with kp_weight > 0: set it in the config.')
            kp = torch.sigmoid(test_cfg['kp_w'] * cosine_maps(clip_feats.dense, classes.kp) + test_cfg['kp_b'])
            kp = reduce_synonyms(kp, classes.syn2cls, classes.num_classes).float()
            kp = F.interpolate(kp, size=masks.shape[-2:], mode='bilinear', align_corners=False)
            masks = kp_weight * kp + (1.0 - kp_weight) * masks
        masks = F.interpolate(masks, size=x.shape[-2:], mode='bilinear', align_corners=False)
        masks = masks[..., pt:pt + h, pl:pl + w]
        if classes.background:
            bg = masks.new_full((masks.shape[0], 1, h, w), background_threshold(test_cfg))
            masks = torch.cat([bg, masks], dim=1)
        return masks
