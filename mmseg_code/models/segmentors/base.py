"""``TextSupervisedSegmentor``: the shared base of TCL and CoDe (open-vocabulary inference).

Inference per window (TCL's protocol, ref-tcl.md §4), for a normalised window ``x`` (``B×3×H×W``) and a
vocabulary of K foreground classes (S synonyms):

    1. x̃ = zero-pad x centrally to a multiple of the patch size p
    2. m = σ(w·cos(V^s(x̃), t_s) + b)                     B×S×(H̃/4)×(W̃/4), t = ``encode_vocabulary`` (cached)
       m ← max over the synonyms of each class           B×K×…
    3. PAMR (optional): m ← PAMR(resize(x̃, m.size, bilinear, align_corners=True), m)
    4. KP mix (kp_weight > 0): m ← κ·σ(10·(cos(MaskCLIP(x̃), t^tpl) − 0.25))↑ + (1−κ)·m
       (MaskCLIP = frozen CLIP, self-only last attention; t^tpl = template-ensembled names; ↑ bilinear)
    5. m ← bilinear resize (align_corners=False) to H̃×W̃, crop the padding → B×K×H×W
    6. with a background: prepend the constant plane ``bg_thresh`` → B×(1+K)×H×W

``mode='slide'`` averages overlapping ``crop_size`` windows (stride ``stride``); ``postprocess_result`` resizes
to the original size and takes the argmax ("background iff max_k m_k ≤ bg_thresh").

Override points for subclasses (CoDe):
    * :meth:`encode_vocabulary` — names → ``S×D`` masker-side text embeddings (TCL: template ensemble;
      CoDe: KgCoOp-prompted bare names). Results are cached per vocabulary and invalidated by
      :meth:`invalidate_vocabulary_cache` (called by training steps and weight loading).
    * :meth:`encode_vocabulary_kp` — names → ``S×D`` embeddings for the KP branch (template ensemble).
    * :meth:`dense_features` — images → ``B×D×h'×w'`` features V^s of the image segmenter.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from ..clip.image_encoder import self_attention_block
from ...utils.options import OptionError, check_known_keys
from ..pamr import PAMR  # noqa: F401  (registers PAMR for test_cfg.pamr_cfg)
from ..vocab import Vocabulary, check_distinct_tokens, encode_with_templates, get_templates, reduce_synonyms

DEFAULT_TEST_CFG = dict(
    mode='whole',          # 'whole' | 'slide'
    crop_size=None,        # (h, w) for slide
    stride=None,           # (h, w) for slide
    bg_thresh=None,        # None: 0.4 with PAMR, 0.5 without (TCL)
    pamr=True,
    pamr_cfg=dict(type='PAMR', num_iter=10, dilations=(1, 2, 4, 8, 12, 24)),
    kp_weight=0.3,
    kp_w=10.0,             # KP branch: σ(kp_w·cos + kp_b) = σ(10·(cos − 0.25))
    kp_b=-2.5,
    kp_templates='custom',
)


@MODELS.register_module()
class TextSupervisedSegmentor(BaseSegmentor):
    """Frozen CLIP + image segmenter F_v + vocabulary; inference as TCL evaluates.

    Args:
        clip: ``OpenCLIP`` config.
        image_segmenter: ``ImageSegmenter`` config (built with the CLIP image encoder).
        vocabulary: classes (list, or txt file with comma-separated synonyms) or None (then taken from
            ``dataset_meta['classes']``, e.g. set by ``DatasetVocabularyHook``, or :meth:`set_vocabulary`).
        background: ``'auto'`` | True | False (see :class:`Vocabulary`).
        templates: masker-side template set for :meth:`encode_vocabulary` (TCL: ``'custom'``).
        data_preprocessor: ``SegDataPreProcessor`` config.
        train_cfg: unused (kept for mmseg compatibility).
        test_cfg: see ``DEFAULT_TEST_CFG`` (a subclass's ``default_test_cfg`` adds its own keys); an unknown key is
            an error.
    """

    default_test_cfg: dict = DEFAULT_TEST_CFG

    def __init__(self,
                 clip: dict,
                 image_segmenter: dict,
                 vocabulary: Optional[Union[str, Sequence]] = None,
                 background: Union[str, bool] = 'auto',
                 templates: Union[str, Sequence[str]] = 'custom',
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 pretrained: Optional[str] = None) -> None:
        # mmseg's ``init_model`` sets ``model.pretrained = None`` on every config; CLIP weights come from
        # ``clip.pretrained``, so only None is accepted here.
        if pretrained is not None:
            raise ValueError(f'{type(self).__name__} takes CLIP weights from model.clip.pretrained, '
                             f'not model.pretrained={pretrained!r}.')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.clip = MODELS.build(clip)
        self.image_segmenter = MODELS.build(image_segmenter,
                                            default_args=dict(image_encoder=self.clip.image_encoder))
        self.templates = get_templates(templates)
        self.train_cfg = train_cfg
        cfg = self.check_test_cfg(test_cfg)
        self.test_cfg = cfg
        self.pamr = MODELS.build(cfg['pamr_cfg']) if cfg['pamr'] else None
        self.align_corners = False
        self.patch_size = self.clip.image_encoder.patch_size
        self._vocab_cache: Optional[dict] = None
        self._dataset_meta: Optional[dict] = None
        self.vocabulary: Optional[Vocabulary] = None
        self._fixed_vocabulary = vocabulary is not None
        if vocabulary is not None:
            self.vocabulary = self._validated_vocabulary(vocabulary, background)

    @classmethod
    def check_test_cfg(cls, test_cfg: Optional[dict]) -> dict:
        """``test_cfg`` merged over :attr:`default_test_cfg`, validated: an unknown key (with the closest known one)
        or an unusable mode is an :class:`OptionError` (one line). Also called by the tools on ``--cfg-options``."""
        cfg = dict(cls.default_test_cfg)
        check_known_keys(test_cfg or {}, cfg, f'{cls.__name__} test_cfg')
        cfg.update(test_cfg or {})
        if cfg['mode'] not in ('whole', 'slide'):
            raise OptionError(f"test_cfg.mode must be 'whole' or 'slide', got {cfg['mode']!r}.")
        if cfg['mode'] == 'slide' and (cfg['crop_size'] is None or cfg['stride'] is None):
            raise OptionError("test_cfg.mode='slide' needs crop_size and stride.")
        return cfg

    # ------------------------------------------------------------------ vocabulary
    def _validated_vocabulary(self, classes, background: Union[str, bool]) -> Vocabulary:
        """``Vocabulary(classes, background)``, its prompted names distinct for the CLIP tokenizer."""
        vocab = Vocabulary(classes, background)
        check_distinct_tokens(self.clip.text_encoder.tokenizer, vocab.synonyms)
        return vocab

    def set_vocabulary(self, classes, background: Union[str, bool] = 'auto') -> Vocabulary:
        """Use ``classes`` from now on (validated; embeddings are computed lazily, once)."""
        vocab = self._validated_vocabulary(classes, background)
        if self.vocabulary is None or vocab.key != self.vocabulary.key:
            self.vocabulary = vocab
            self._vocab_cache = None
        return self.vocabulary

    @property
    def dataset_meta(self) -> Optional[dict]:
        """mmseg's ``dataset_meta`` (``init_model``, ``MMSegInferencer``, ``show_result_pyplot`` read it):
        ``classes`` = the output channels of the current vocabulary, always with a ``palette`` of as many colours
        (the one set, if it fits; else a known dataset's colours or an automatic palette, ``class_palette``)."""
        if self._dataset_meta is None and self.vocabulary is None:
            return None
        meta = dict(self._dataset_meta or {})
        if self.vocabulary is not None:
            classes = tuple(self.vocabulary.class_names)          # a tuple, as mmseg's dataset METAINFO
            if tuple(meta.get('classes') or ()) != classes:
                meta['classes'] = classes
                meta.pop('palette', None)  # a palette of other classes would not match
        classes = meta.get('classes')
        if classes and len(meta.get('palette') or ()) != len(classes):
            from mmseg_code.apis.visualization import class_palette  # palettes live with the overlays
            meta['palette'] = class_palette(classes)
        return meta

    @dataset_meta.setter
    def dataset_meta(self, meta: Optional[dict]) -> None:
        """mmseg convention (``init_model``, inferencer, ``DatasetVocabularyHook``): take the class names
        as the vocabulary unless one was fixed in the config (or they are the current vocabulary's)."""
        self._dataset_meta = meta
        classes = (meta or {}).get('classes')
        if classes and not self._fixed_vocabulary and (
                self.vocabulary is None or list(classes) != list(self.vocabulary.class_names)):
            self.set_vocabulary(list(classes), background='auto')

    def invalidate_vocabulary_cache(self) -> None:
        """Forget cached vocabulary embeddings (their text side may have changed)."""
        self._vocab_cache = None

    def _load_from_state_dict(self, *args, **kwargs):
        self._vocab_cache = None
        return super()._load_from_state_dict(*args, **kwargs)

    def encode_vocabulary(self, names: Sequence[str]) -> torch.Tensor:
        """Masker-side text embeddings ``S×D`` (L2-normalised) of the prompted names.

        TCL: CLIP text embeddings averaged over ``self.templates``, then normalised. Override in CoDe.
        """
        return encode_with_templates(self.clip.text_encoder, names, self.templates)

    def encode_vocabulary_kp(self, names: Sequence[str]) -> torch.Tensor:
        """KP-branch text embeddings ``S×D``: the template ensemble with ``test_cfg.kp_templates``."""
        return encode_with_templates(self.clip.text_encoder, names, self.test_cfg['kp_templates'])

    def vocabulary_embeddings(self) -> dict:
        """Cached ``dict(masker=S×D, kp=S×D | None, syn2cls=S)`` for the current vocabulary."""
        if self.vocabulary is None:
            raise RuntimeError('No vocabulary: set `vocabulary` in the model config, call '
                               'model.set_vocabulary(names), or set model.dataset_meta (DatasetVocabularyHook).')
        device = self.clip.image_encoder.visual.conv1.weight.device
        key = (self.vocabulary.key, str(device))
        cache = self._vocab_cache
        if cache is None or cache['key'] != key:
            names = self.vocabulary.synonyms
            masker = self.encode_vocabulary(names).detach()
            kp = None
            if self.test_cfg['kp_weight'] > 0:
                same = (type(self).encode_vocabulary is TextSupervisedSegmentor.encode_vocabulary
                        and get_templates(self.test_cfg['kp_templates']) == self.templates)
                kp = masker if same else self.encode_vocabulary_kp(names).detach()
            syn2cls = torch.tensor(self.vocabulary.synonym_to_class, device=device)
            cache = dict(key=key, masker=masker, kp=kp, syn2cls=syn2cls)
            self._vocab_cache = cache
        return cache

    # ------------------------------------------------------------------ features
    def dense_features(self, inputs: torch.Tensor, normalize: bool = True,
                       return_tokens: bool = False):
        """Image-segmenter features V^s ``B×D×(H/4)×(W/4)`` of images whose size is a multiple of p.

        With ``return_tokens`` also returns the frozen CLIP tokens before the last block and the grid.
        """
        with torch.no_grad():
            tokens, grid = self.clip.image_encoder.forward_features(inputs)
        feats = self.image_segmenter(tokens, grid, normalize=normalize)
        return (feats, tokens, grid) if return_tokens else feats

    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """mmseg API: normalised features V^s ``B×D×(H/4)×(W/4)`` (H, W multiples of the patch size)."""
        return self.dense_features(inputs)

    def _forward(self, inputs: torch.Tensor, data_samples=None) -> torch.Tensor:
        """``mode='tensor'``: the per-pixel scores of ``encode_decode`` (``B×C×H×W``)."""
        return self.encode_decode(inputs, None)

    # ------------------------------------------------------------------ inference
    @property
    def bg_thresh(self) -> float:
        t = self.test_cfg['bg_thresh']
        if t is None:
            t = 0.4 if self.test_cfg['pamr'] else 0.5
        return float(t)

    def _pad_to_patch(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        p = self.patch_size
        h, w = x.shape[-2:]
        ph, pw = (-h) % p, (-w) % p
        pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)          # left, right, top, bottom
        if ph or pw:
            x = F.pad(x, pad, value=0.0)
        return x, pad

    def foreground_masks(self, x: torch.Tensor) -> torch.Tensor:
        """Steps 2-4 on a padded window: ``B×K×(H̃/4)×(W̃/4)`` foreground scores in [0, 1]."""
        emb = self.vocabulary_embeddings()
        k = len(self.vocabulary.names)
        feats, tokens, grid = self.dense_features(x, normalize=True, return_tokens=True)
        sim2mask = self.image_segmenter.sim2mask
        _, masks = sim2mask(feats, emb['masker'], feats_normalized=True)     # dense_features normalised them
        masks = reduce_synonyms(masks, emb['syn2cls'], k).float()
        if self.pamr is not None:
            img = F.interpolate(x, size=masks.shape[-2:], mode='bilinear', align_corners=True)
            masks = self.pamr(img, masks)
        kp_w = self.test_cfg['kp_weight']
        if kp_w > 0:
            enc = self.clip.image_encoder
            dense = enc.project(self_attention_block(enc.blocks[-1], tokens)[:, 1:])       # B×hw×D
            dense = dense.transpose(1, 2).reshape(x.shape[0], -1, grid[0], grid[1])
            sim = sim2mask.similarity(dense, emb['kp'])
            kp = torch.sigmoid(self.test_cfg['kp_w'] * sim + self.test_cfg['kp_b'])
            kp = reduce_synonyms(kp, emb['syn2cls'], k).float()
            kp = F.interpolate(kp, size=masks.shape[-2:], mode='bilinear', align_corners=False)
            masks = kp_w * kp + (1.0 - kp_w) * masks
        return masks

    @torch.no_grad()
    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: Optional[list] = None) -> torch.Tensor:
        """One window: scores ``B×C×H×W`` at the input size (C = K, or 1+K with background)."""
        h, w = inputs.shape[-2:]
        x, (pl, pr, pt, pb) = self._pad_to_patch(inputs)
        masks = self.foreground_masks(x)
        masks = F.interpolate(masks, size=x.shape[-2:], mode='bilinear', align_corners=False)
        masks = masks[..., pt:pt + h, pl:pl + w]
        if self.vocabulary.has_background:
            bg = masks.new_full((masks.shape[0], 1, h, w), self.bg_thresh)
            masks = torch.cat([bg, masks], dim=1)
        return masks

    def slide_inference(self, inputs: torch.Tensor, batch_img_metas: Optional[list] = None) -> torch.Tensor:
        """Average of overlapping windows (mmseg's grid: last window aligned to the border)."""
        h_stride, w_stride = self.test_cfg['stride']
        h_crop, w_crop = self.test_cfg['crop_size']
        b, _, h_img, w_img = inputs.shape
        h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
        w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
        preds = None
        count = inputs.new_zeros((b, 1, h_img, w_img))
        for h_idx in range(h_grids):
            for w_idx in range(w_grids):
                y1, x1 = h_idx * h_stride, w_idx * w_stride
                y2, x2 = min(y1 + h_crop, h_img), min(x1 + w_crop, w_img)
                y1, x1 = max(y2 - h_crop, 0), max(x2 - w_crop, 0)
                crop = self.encode_decode(inputs[:, :, y1:y2, x1:x2], batch_img_metas)
                if preds is None:
                    preds = inputs.new_zeros((b, crop.shape[1], h_img, w_img))
                preds[:, :, y1:y2, x1:x2] += crop
                count[:, :, y1:y2, x1:x2] += 1
        return preds / count

    def inference(self, inputs: torch.Tensor, batch_img_metas: Optional[list] = None) -> torch.Tensor:
        """Scores ``B×C×H×W`` at the (preprocessed) input size, whole image or sliding window."""
        if self.test_cfg['mode'] == 'slide':
            return self.slide_inference(inputs, batch_img_metas)
        return self.encode_decode(inputs, batch_img_metas)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, data_samples: Optional[list] = None) -> list:
        """``SegDataSample`` list with ``pred_sem_seg`` and ``seg_logits`` (scores) at the original size."""
        if data_samples is not None:
            metas = [s.metainfo for s in data_samples]
        else:
            metas = [dict(ori_shape=inputs.shape[2:], img_shape=inputs.shape[2:], pad_shape=inputs.shape[2:],
                          padding_size=[0, 0, 0, 0])] * inputs.shape[0]
            data_samples = [SegDataSample(metainfo=m) for m in metas]
        scores = self.inference(inputs, metas)
        return self.postprocess_result(scores, data_samples)

    def postprocess_result(self, seg_logits: torch.Tensor, data_samples: Optional[list] = None) -> list:
        """mmseg's ``postprocess_result`` (crop the padding, undo flips, bilinear resize to ``ori_shape``, argmax)
        with the same results and two shortcuts: a resize to the size the scores already have is skipped (it is
        the identity), and the argmax over classes runs on a channel-last copy (contiguous reduction; torch's
        argmax over the strided class dim was 25% of a tiny model's predict). Ties resolve to the first class in
        both. Single-channel scores go to mmseg's implementation."""
        b, c, h, w = seg_logits.shape
        if c == 1 or data_samples is None:
            return super().postprocess_result(seg_logits, data_samples)
        for i in range(b):
            meta = data_samples[i].metainfo
            pad_l, pad_r, pad_t, pad_b = meta.get('img_padding_size', meta.get('padding_size', [0] * 4))
            logits = seg_logits[i:i + 1, :, pad_t:h - pad_b, pad_l:w - pad_r]
            flip = meta.get('flip', None)
            if flip:
                direction = meta.get('flip_direction', None)
                assert direction in ['horizontal', 'vertical']
                logits = logits.flip(dims=(3, ) if direction == 'horizontal' else (2, ))
            if tuple(logits.shape[-2:]) != tuple(int(v) for v in meta['ori_shape'][:2]):
                logits = F.interpolate(logits, size=meta['ori_shape'], mode='bilinear',
                                       align_corners=self.align_corners)
            logits = logits.squeeze(0)
            pred = logits.movedim(0, -1).contiguous().argmax(dim=-1).unsqueeze(0)
            data_samples[i].set_data(dict(seg_logits=PixelData(data=logits), pred_sem_seg=PixelData(data=pred)))
        return data_samples

    def loss(self, inputs: torch.Tensor, data_samples: list) -> dict:
        raise NotImplementedError(f'{type(self).__name__} has no training loss; use TCL or CoDe.')
