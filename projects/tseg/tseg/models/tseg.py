"""``TSEG``: text-grounded semantic segmentation from image-level referring expressions (Strudel et al.).

One forward pass gives both outputs (Fig. 2):

    patches  x = E_I(I)                       B×N×D_I          (ViT-S/16, N = HW/P²)
    texts    y = E_T(t_1..t_L)                L×D_T            (BERT-Small [CLS])
    S = scaled cos(W_I x, W_T y)              B×N×L            Eq. 1   (PatchTextSimilarity)
    z, M = pooling(S)                         B×L, B×N×L       Eqs. 4, 6-8 (MPAPooling; 'spa'/'gap'/'gmp' baselines)

Training (weak, Sec. 3.3): the L expressions are the *unique* expressions of the mini-batch; image b's target for
expression j is 1 iff j is one of its own (identity ground truth) → ``loss_cls`` = multi-label soft margin on z.
Training (full, upper bound): each image's own expressions only; σ(S) bilinearly upsampled → Dice (Eq. 9).

Inference: M (N×K for the image's K expressions) → h×w → bilinear to the padded input → crop → bilinear to the
original size → [optional dense CRF, ``test_cfg.crf``: paper Table 3's "TSEG (CRF)", ``crf.py``] → MPA: pixel in
mask j iff m_j > σ(0) = 0.5 (s_j > s_bg); SPA: argmax over [bg, masks].
Outputs on each ``SegDataSample``: ``seg_logits`` (K×H×W mask scores), ``pred_masks`` (K×H×W bool),
``pred_scores`` (K, σ(z)), ``pred_sem_seg`` (H×W: 0 background, j+1 where expression j wins, for visualisers).
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_code.utils.options import check_known_keys

from .losses import batch_targets


@MODELS.register_module()
class TSEG(BaseSegmentor):
    """Args:
        image_encoder: ``TSEGViTEncoder`` / ``TSEGCLIPImageEncoder`` config.
        text_encoder: ``TSEGBertTextEncoder`` / ``TSEGCLIPTextEncoder`` config.
        similarity: ``PatchTextSimilarity`` config (``image_dim``/``text_dim`` filled from the encoders).
        pooling: ``MPAPooling`` config.
        loss_cls: weak loss config (``TSEGSoftMarginLoss``).
        loss_dice: full-supervision loss config (``TSEGDiceLoss``).
        supervision: ``'weak'`` (TSEG) or ``'full'`` (the paper's upper bound).
        test_cfg: ``threshold`` (None: σ(s_bg) = 0.5 on MPA masks), ``expressions_key`` (metainfo key), ``crf``
            (None, True or a ``DenseCRF`` argument dict: dense-CRF post-processing of the masks on the image; needs
            the optional ``pydensecrf2`` package, one-line error at build time without it); an unknown key is an
            error.
    """

    def __init__(self, image_encoder: dict, text_encoder: dict, similarity: Optional[dict] = None,
                 pooling: Optional[dict] = None, loss_cls: Optional[dict] = None, loss_dice: Optional[dict] = None,
                 supervision: str = 'weak', data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if supervision not in ('weak', 'full'):
            raise ValueError(f"supervision must be 'weak' or 'full', got {supervision!r}")
        self.image_encoder = MODELS.build(image_encoder)
        self.text_encoder = MODELS.build(text_encoder)
        sim = dict(type='PatchTextSimilarity')
        sim.update(similarity or {})
        sim.setdefault('image_dim', self.image_encoder.embed_dim)
        sim.setdefault('text_dim', self.text_encoder.embed_dim)
        self.similarity = MODELS.build(sim)
        self.pooling = MODELS.build(pooling or dict(type='MPAPooling'))
        self.loss_cls = MODELS.build(loss_cls or dict(type='TSEGSoftMarginLoss'))
        self.loss_dice = MODELS.build(loss_dice or dict(type='TSEGDiceLoss'))
        self.supervision = supervision
        self.train_cfg = train_cfg or {}
        self.test_cfg = dict(threshold=None, expressions_key='expressions', crf=None)
        check_known_keys(test_cfg or {}, self.test_cfg, 'TSEG test_cfg')
        self.test_cfg.update(test_cfg or {})
        self.crf = None
        self.set_crf(self.test_cfg['crf'])
        self.patch_size = self.image_encoder.patch_size
        self.align_corners = False

    # ------------------------------------------------------------------ encoders
    def extract_feat(self, inputs: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Patch tokens ``B×N×D_I`` and the grid ``(h, w)``."""
        return self.image_encoder(inputs)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Global expression tokens ``L×D_T``."""
        return self.text_encoder(list(texts))

    def patch_text_scores(self, inputs: torch.Tensor, texts: Sequence[str]):
        """``S`` ``B×N×L`` (Eq. 1) and the grid."""
        patches, grid = self.extract_feat(inputs)
        return self.similarity(patches, self.encode_text(texts)), grid

    def set_crf(self, crf) -> None:
        """Dense-CRF post-processing: None/False off, True with the defaults, or ``DenseCRF`` arguments (dict)."""
        if not crf:
            self.crf, self.test_cfg['crf'] = None, None
            return
        from .crf import DenseCRF
        self.crf = DenseCRF(**(crf if isinstance(crf, dict) else {}))
        self.test_cfg['crf'] = crf

    def apply_crf(self, inputs: torch.Tensor, b: int, valid: tuple, masks: torch.Tensor) -> torch.Tensor:
        """Refine image ``b``'s masks ``K×H×W`` (at the output size) with :attr:`crf` on its de-normalised pixels."""
        from .crf import denormalize
        vh, vw = valid
        img = inputs[b:b + 1, :, :vh, :vw].float()
        if tuple(masks.shape[-2:]) != (vh, vw):
            img = F.interpolate(img, size=masks.shape[-2:], mode='bilinear', align_corners=False)
        dp = self.data_preprocessor
        image = denormalize(img[0], getattr(dp, 'mean', None) if getattr(dp, '_enable_normalize', False) else None,
                            getattr(dp, 'std', None) if getattr(dp, '_enable_normalize', False) else None)
        return self.crf.refine_masks(image, masks, multi_label=self.pooling.mode == 'spa')

    @property
    def threshold(self) -> float:
        t = self.test_cfg['threshold']
        return 0.5 if t is None else float(t)

    def _expressions(self, data_samples: Sequence[SegDataSample]) -> List[List[str]]:
        key = self.test_cfg['expressions_key']
        out = []
        for s in data_samples:
            exprs = s.metainfo.get(key)
            if exprs is None:
                raise KeyError(f"data sample has no '{key}' in its metainfo (the referring expressions)")
            out.append([exprs] if isinstance(exprs, str) else list(exprs))
        return out

    # ------------------------------------------------------------------ training
    def loss(self, inputs: torch.Tensor, data_samples: list) -> dict:
        exprs = self._expressions(data_samples)
        if self.supervision == 'full':
            return self._loss_full(inputs, data_samples, exprs)
        texts, targets = batch_targets(exprs)
        scores, _ = self.patch_text_scores(inputs, texts)           # B×N×L
        z, _ = self.pooling(scores)                                 # B×L
        targets = targets.to(z.device)
        loss = self.loss_cls(z, targets)
        with torch.no_grad():
            acc = ((z > 0).float() == targets).float().mean()
        return dict(loss_cls=loss, acc_cls=acc, logit_scale=self.similarity.scale.detach(),
                    num_expr=torch.tensor(float(len(texts)), device=z.device))

    def _loss_full(self, inputs, data_samples, exprs) -> dict:
        patches, (h, w) = self.extract_feat(inputs)
        probs, gts = [], []
        for b, (sample, texts) in enumerate(zip(data_samples, exprs)):
            s = self.similarity(patches[b:b + 1], self.encode_text(texts))[0]          # N×K
            s = s.transpose(0, 1).reshape(1, len(texts), h, w)
            s = F.interpolate(s, size=inputs.shape[-2:], mode='bilinear', align_corners=False)[0]
            gt = sample.gt_masks.data.to(s.device).float()
            gt = F.pad(gt, (0, s.shape[-1] - gt.shape[-1], 0, s.shape[-2] - gt.shape[-2]))
            probs.append(torch.sigmoid(s))
            gts.append(gt)
        return dict(loss_dice=self.loss_dice(torch.cat(probs), torch.cat(gts)))

    # ------------------------------------------------------------------ inference
    def _pad_to_patch(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        ph, pw = (-x.shape[-2]) % p, (-x.shape[-1]) % p
        return F.pad(x, (0, pw, 0, ph)) if (ph or pw) else x

    @torch.no_grad()
    def segment(self, inputs: torch.Tensor, expressions: Sequence[Sequence[str]],
                valid_shapes: Optional[Sequence] = None, out_shapes: Optional[Sequence] = None) -> List[dict]:
        """Masks of each image's expressions.

        Args:
            inputs: normalised images ``B×3×H×W`` (padded bottom/right, any size).
            expressions: per image, its K_b expressions.
            valid_shapes: per image, the unpadded ``(h, w)`` inside ``inputs`` (default: the whole input).
            out_shapes: per image, the output ``(H, W)`` (default: ``valid_shapes``).
        Returns:
            per image ``dict(masks=K×H×W scores in [0,1], scores=K (σ(z)), logits=K (z))``.
        """
        x = self._pad_to_patch(inputs)
        patches, (h, w) = self.extract_feat(x)
        out = []
        for b, texts in enumerate(expressions):
            s = self.similarity(patches[b:b + 1], self.encode_text(texts))       # 1×N×K
            z, m = self.pooling(s)
            m = m[0].transpose(0, 1).reshape(1, len(texts), h, w)
            m = F.interpolate(m, size=x.shape[-2:], mode='bilinear', align_corners=False)
            vh, vw = valid_shapes[b] if valid_shapes is not None else inputs.shape[-2:]
            m = m[..., :vh, :vw]
            oh, ow = out_shapes[b] if out_shapes is not None else (vh, vw)
            if (oh, ow) != (vh, vw):
                m = F.interpolate(m, size=(oh, ow), mode='bilinear', align_corners=False)
            out.append(dict(masks=m[0], scores=torch.sigmoid(z[0]), logits=z[0]))
        return out

    def binarize(self, masks: torch.Tensor) -> torch.Tensor:
        """K×H×W scores → K×H×W bool. MPA/GAP/GMP: ``m > threshold``; SPA: argmax over [bg = 1 − Σm, masks]."""
        if self.pooling.mode == 'spa':
            bg = (1.0 - masks.sum(0, keepdim=True)).clamp_min(0)
            lab = torch.cat([bg, masks]).argmax(0)
            return torch.stack([lab == j + 1 for j in range(masks.shape[0])])
        return masks > self.threshold

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, data_samples: Optional[list] = None) -> list:
        if data_samples is None:
            raise ValueError('TSEG.predict needs data samples carrying the referring expressions in their metainfo')
        exprs = self._expressions(data_samples)
        metas = [s.metainfo for s in data_samples]
        valid = [m.get('img_shape', inputs.shape[-2:])[:2] for m in metas]
        ori = [m.get('ori_shape', v)[:2] for m, v in zip(metas, valid)]
        results = self.segment(inputs, exprs, valid, ori)
        for b, (sample, res) in enumerate(zip(data_samples, results)):
            masks = res['masks']
            if self.crf is not None:
                masks = self.apply_crf(inputs, b, valid[b], masks)
            binary = self.binarize(masks)
            label = torch.where(binary.any(0), (masks * binary).argmax(0) + 1, 0)
            sample.set_data(dict(seg_logits=PixelData(data=masks), pred_masks=PixelData(data=binary),
                                 pred_sem_seg=PixelData(data=label[None])))
            sample.set_field(res['scores'], 'pred_scores')
        return data_samples

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: list) -> torch.Tensor:
        """Mask scores ``B×K×H×W`` at the input size (every image must carry K expressions)."""
        key = self.test_cfg['expressions_key']
        res = self.segment(inputs, [m[key] for m in batch_img_metas])
        return torch.stack([r['masks'] for r in res])

    def _forward(self, inputs: torch.Tensor, data_samples: Optional[list] = None):
        """``mode='tensor'``: patch tokens ``B×N×D_I``."""
        return self.extract_feat(inputs)[0]
