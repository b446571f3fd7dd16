"""``TextSupervisedSegmentor``: the shared base of TCL, CoDe and MGCA, on mmseg's multimodal encoder-decoder contract.

mmseg's ``MultimodalEncoderDecoder`` runs the inference (``predict`` → ``inference`` → ``whole_inference`` /
``slide_inference`` → ``encode_decode`` → ``postprocess_result``); per window ``x`` (``B×3×H×W``, normalised):

    c = text_encoder()               ClassEmbeddings of the vocabulary  (``TextClassifier``: cached per vocabulary)
    f = image_encoder(x)             CLIPFeatures of x padded to a multiple of p  (the frozen CLIP image tower)
    m = decode_head.predict([x, f, c], metas, test_cfg)      B×C×H×W  (``OpenVocabularyHead``: class scores → PAMR →
                                                                      KP mix → resize, crop → background plane)

``mode='slide'`` averages overlapping ``crop_size`` windows (stride ``stride``); ``postprocess_result`` resizes to
the original size and takes the argmax ("background iff max_k m_k ≤ bg_thresh"). Overridden here, for speed only
(:mod:`~mmseg_code.models.inference_options`): ``slide_inference`` batches the windows of all images
(``test_cfg.window_batch``; mmseg's crop grid and average), ``encode_decode`` runs the image encoder under
``test_cfg.dtype``'s autocast and, with ``test_cfg.compile``, ``torch.compile``-d. ``mode='tensor'`` returns the head's
dense features of the (padded) input.

Why ``MultimodalEncoderDecoder`` and not ``EncoderDecoder``: its ``encode_decode`` hands the head the input window
(for PAMR), the image features and the class embeddings of a text encoder that holds the vocabulary, which is this
model. Its quirks, handled here: ``asymetric_input`` is off (CLIP sees the window itself); ``num_classes`` and
``out_channels`` (read by ``slide_inference``) follow the text classifier's current vocabulary instead of being copied
from the head once; its ``__init__`` builds each part from its own config, while here one open_clip model
(``OpenCLIP``, built once, ~1.7 s for ViT-B/16) feeds the image encoder, the text classifier and the head (which copies
CLIP's last block), so the parts are assembled in :meth:`TextSupervisedSegmentor.__init__` (it calls
``BaseSegmentor.__init__``). ``image_encoder`` is the frozen image tower of ``clip`` (a property: its weights are
stored once, under ``clip.``), the text classifier keeps a plain reference to the text tower. Also mmseg's:
``inference`` asserts that the images of a batch share their ``ori_shape``.

Checkpoints written before this layout (``image_segmenter.*``, CoDe's ``noun_prompt.*``) load through
:func:`upgrade_state_dict`. Loading is strict about names, whoever loads (MMEngine's ``load_from``/``--resume``,
``init_model``, the inferencers, ``load_state_dict``): a checkpoint that misses a required key or has an unexpected one
raises :class:`CheckpointKeyError` (one line) before any weight is copied; ``load_strict=False`` (a model argument:
``--cfg-options model.load_strict=False``) loads anyway, with MMEngine's warning about the keys.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from mmengine.config import ConfigDict
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.models.segmentors.multimodal_encoder_decoder import MultimodalEncoderDecoder
from mmseg.registry import MODELS

from ...utils.checkpoint import CheckpointKeyError
from ..clip.text_encoder import require_causal_text
from ...utils.options import OptionError, check_known_keys
from ..heads.open_vocab_head import background_threshold
from ..inference_options import (DEFAULT_WINDOW_BATCH, CompiledEncoder, autocast_for, check_inference_options,
                                 slide_windows, windows_per_chunk)
from ..vocab import Vocabulary

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
    window_batch=DEFAULT_WINDOW_BATCH,  # slide: windows per forward, across the batch (None/1: mmseg's loop)
    dtype='fp32',          # 'fp32' | 'fp16' | 'bf16': autocast of the image encoder and the head's features
    compile=False,         # torch.compile the frozen image encoder (skipped with one warning where it fails)
)

# state-dict prefixes of the layout before the mmseg encoder-decoder contract → today's
LEGACY_PREFIXES = {'image_segmenter.': 'decode_head.', 'noun_prompt.': 'text_encoder.noun_prompt.'}


def upgrade_state_dict(state_dict: dict, prefix: str = '') -> dict:
    """Rename, in place, the keys under ``prefix`` of a checkpoint written before the encoder-decoder layout
    (:data:`LEGACY_PREFIXES`); returns ``state_dict``. Keys of today's layout are left alone."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        rest = key[len(prefix):]
        for old, new in LEGACY_PREFIXES.items():
            if rest.startswith(old):
                state_dict[prefix + new + rest[len(old):]] = state_dict.pop(key)
                break
    return state_dict


def _short(keys: list, n: int = 5) -> str:
    shown = ', '.join(keys[:n])
    return f'[{shown}{", ..." if len(keys) > n else ""}]'


def check_checkpoint_keys(model, state_dict: dict, prefix: str = '', source: str = 'checkpoint') -> None:
    """Raise :class:`CheckpointKeyError` when the keys of ``state_dict`` under ``prefix`` miss required or have
    unexpected keys of ``model`` (keys of the layout before the encoder-decoder contract count under their new names,
    as the model loads them; the keys a checkpoint may leave out are the model's ``optional_state_dict_prefixes()``)."""
    own = set(model.state_dict().keys())
    given = set(upgrade_state_dict({k[len(prefix):]: None for k in state_dict if k.startswith(prefix)}))
    optional = model.optional_state_dict_prefixes()
    missing = sorted(k for k in own - given if not k.startswith(optional) and 'num_batches_tracked' not in k)
    unexpected = sorted(given - own)
    if missing or unexpected:
        raise CheckpointKeyError(
            f'{source} does not match {type(model).__name__}: {len(missing)} missing key(s) {_short(missing)}, '
            f'{len(unexpected)} unexpected key(s) {_short(unexpected)}. Check the config matches the checkpoint, '
            f'or load anyway with --cfg-options model.load_strict=False.')


@MODELS.register_module()
class TextSupervisedSegmentor(MultimodalEncoderDecoder):
    """Frozen CLIP + text classifier + open-vocabulary decode head; inference as TCL evaluates.

    Args:
        clip: ``OpenCLIP`` config: the frozen CLIP whose towers are the image encoder and the text classifier's E_t.
        decode_head: the open-vocabulary head (``ImageSegmenter`` for TCL/CoDe), built with the CLIP image encoder.
        text_encoder: the text classifier (``TextClassifier`` with TCL's ``templates='custom'``;
            ``KgCoOpTextClassifier`` for CoDe), built with the CLIP text encoder and the KP templates of ``test_cfg``.
        vocabulary: classes (list, or txt file with comma-separated synonyms) or None (then taken from
            ``dataset_meta['classes']``, e.g. set by ``DatasetVocabularyHook``, or :meth:`set_vocabulary`).
        background: ``'auto'`` | True | False (see :class:`Vocabulary`).
        data_preprocessor: ``SegDataPreProcessor`` config.
        train_cfg: unused (kept for mmseg compatibility).
        test_cfg: see ``DEFAULT_TEST_CFG`` (a subclass's ``default_test_cfg`` adds its own keys); an unknown key is
            an error.
        load_strict: a checkpoint's keys must match the model's (:class:`CheckpointKeyError` otherwise); False
            loads whatever matches.
    """

    default_test_cfg: dict = DEFAULT_TEST_CFG
    # methods that train on caption token positions (SOT, words, EOT) need a causal CLIP text tower (TCL, CoDe)
    trains_on_caption_tokens: bool = False

    def __init__(self,
                 clip: dict,
                 decode_head: dict,
                 text_encoder: dict = dict(type='TextClassifier', templates='custom'),
                 vocabulary: Optional[Union[str, Sequence]] = None,
                 background: Union[str, bool] = 'auto',
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 load_strict: bool = True) -> None:
        # mmseg's ``init_model`` sets ``model.pretrained = None`` on every config; CLIP weights come from
        # ``clip.pretrained``, so only None is accepted here.
        if pretrained is not None:
            raise ValueError(f'{type(self).__name__} takes CLIP weights from model.clip.pretrained, '
                             f'not model.pretrained={pretrained!r}.')
        cfg = self.check_test_cfg(test_cfg)
        BaseSegmentor.__init__(self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)  # see module docstring
        self.clip = MODELS.build(clip)
        if self.trains_on_caption_tokens:
            require_causal_text(self.clip.text_encoder, type(self).__name__)
        kp_templates = cfg['kp_templates'] if cfg['kp_weight'] > 0 else None
        self.text_encoder = MODELS.build(text_encoder, default_args=dict(text_encoder=self.clip.text_encoder,
                                                                         kp_templates=kp_templates))
        self._init_decode_head(decode_head)
        self.asymetric_input, self.encoder_resolution = False, None
        self.train_cfg = train_cfg
        self.test_cfg = ConfigDict(cfg)
        if cfg['pamr']:
            MODELS.build(cfg['pamr_cfg'])          # a bad pamr_cfg fails here, not at the first prediction
        self.load_strict = bool(load_strict)
        self._dataset_meta: Optional[dict] = None
        self._fixed_vocabulary = vocabulary is not None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, background)

    def _init_decode_head(self, decode_head: dict) -> None:
        """mmseg's ``_init_decode_head`` with the CLIP image encoder passed to the head; ``num_classes`` and
        ``out_channels`` are properties (the vocabulary's)."""
        self.decode_head = MODELS.build(decode_head, default_args=dict(image_encoder=self.clip.image_encoder))
        self.align_corners = self.decode_head.align_corners

    @property
    def image_encoder(self):
        """mmseg's image encoder: the frozen CLIP image tower (``clip.image_encoder``, stored once)."""
        return self.clip.image_encoder

    @property
    def num_classes(self) -> int:
        """Output channels of the current vocabulary (``'background'`` included)."""
        return len(self.text_encoder.require_vocabulary())

    out_channels = num_classes

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
        check_inference_options(cfg)
        return cfg

    @property
    def bg_thresh(self) -> float:
        """The background plane's constant score (``test_cfg.bg_thresh``, None: 0.4 with PAMR, 0.5 without)."""
        return background_threshold(self.test_cfg)

    # ------------------------------------------------------------------ vocabulary
    @property
    def vocabulary(self) -> Optional[Vocabulary]:
        """The text classifier's current vocabulary."""
        return self.text_encoder.vocabulary

    def set_vocabulary(self, classes, background: Union[str, bool] = 'auto') -> Vocabulary:
        """Use ``classes`` from now on (validated; embeddings are computed lazily, once)."""
        return self.text_encoder.set_vocabulary(classes, background)

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

    # ------------------------------------------------------------------ inference
    def extract_image_features(self, inputs: torch.Tensor):
        """The image encoder's read-outs of windows ``inputs`` (``torch.compile``-d with ``test_cfg.compile``)."""
        if self.test_cfg.get('compile', False):
            compiled = self.__dict__.get('_compiled_encoder')
            if compiled is None or compiled.encoder is not self.image_encoder:
                compiled = CompiledEncoder(self.image_encoder)
                self.__dict__['_compiled_encoder'] = compiled
            return compiled(inputs)
        return self.image_encoder(inputs)

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: list) -> torch.Tensor:
        """mmseg's ``encode_decode`` (class embeddings, image features, ``decode_head.predict``) with the image
        encoder under ``test_cfg.dtype``'s autocast (the head autocasts its own features, the rest is fp32)."""
        classifier_embeds = self.text_encoder()
        with autocast_for(inputs.device, self.test_cfg.get('dtype', 'fp32')):
            feats = self.extract_image_features(inputs)
        return self.decode_head.predict([inputs, feats, classifier_embeds], batch_img_metas, self.test_cfg)

    def slide_inference(self, inputs: torch.Tensor, batch_img_metas: list) -> torch.Tensor:
        """mmseg's ``slide_inference`` with the windows batched: the same crop grid (:func:`slide_windows`) and the
        same average (every image's windows are added in mmseg's order, divided by the count map), but the windows of
        all images go through :meth:`encode_decode` ``test_cfg.window_batch`` at a time (fewer for a large vocabulary,
        :func:`windows_per_chunk`). ``window_batch`` None or 1: mmseg's window-by-window loop."""
        window_batch = self.test_cfg.get('window_batch')
        if not window_batch or window_batch <= 1:
            return super().slide_inference(inputs, batch_img_metas)
        batch_size, _, h_img, w_img = inputs.shape
        boxes = slide_windows(h_img, w_img, self.test_cfg.crop_size, self.test_cfg.stride)
        out_channels = self.out_channels
        crop_hw = (boxes[0][1] - boxes[0][0], boxes[0][3] - boxes[0][2])      # every window has this size
        preds = inputs.new_zeros((batch_size, out_channels, h_img, w_img))
        count_mat = inputs.new_zeros((batch_size, 1, h_img, w_img))
        for y1, y2, x1, x2 in boxes:
            count_mat[:, :, y1:y2, x1:x2] += 1
        batch_img_metas[0]['img_shape'] = crop_hw                              # as mmseg leaves it
        jobs = [(k, b) for k in range(len(boxes)) for b in range(batch_size)]  # window-major: mmseg's order per image
        step = windows_per_chunk(window_batch, out_channels, crop_hw)
        for start in range(0, len(jobs), step):
            chunk = jobs[start:start + step]
            crops = torch.stack([inputs[b, :, boxes[k][0]:boxes[k][1], boxes[k][2]:boxes[k][3]] for k, b in chunk])
            metas = [dict(batch_img_metas[b], img_shape=crop_hw) for _, b in chunk]
            logits = self.encode_decode(crops, metas)
            for (k, b), logit in zip(chunk, logits):
                y1, y2, x1, x2 = boxes[k]
                preds[b, :, y1:y2, x1:x2] += logit
        assert (count_mat == 0).sum() == 0
        return preds / count_mat

    def postprocess_result(self, seg_logits: torch.Tensor, data_samples=None) -> list:
        """mmseg's ``postprocess_result`` (padding removed, flip undone, bilinear resize to ``ori_shape``, class
        argmax), with the argmax over classes taken as ``max(dim=0)`` — the same first maximal index, ~3× faster on
        CPU than ``argmax(dim=0)`` over the outer dimension (110 → 35 ms for 21 classes at 448×672)."""
        if seg_logits.shape[1] == 1:
            return super().postprocess_result(seg_logits, data_samples)
        from mmengine.structures import PixelData
        from mmseg.models.utils import resize
        from mmseg.structures import SegDataSample
        batch_size, _, H, W = seg_logits.shape
        only_prediction = data_samples is None
        if only_prediction:
            data_samples = [SegDataSample() for _ in range(batch_size)]
        for i in range(batch_size):
            if only_prediction:
                i_seg_logits = seg_logits[i]
            else:
                img_meta = data_samples[i].metainfo
                padding_size = img_meta.get('img_padding_size', img_meta.get('padding_size', [0] * 4))
                left, right, top, bottom = padding_size
                i_seg_logits = seg_logits[i:i + 1, :, top:H - bottom, left:W - right]
                if img_meta.get('flip', None):
                    direction = img_meta.get('flip_direction', None)
                    assert direction in ['horizontal', 'vertical']
                    i_seg_logits = i_seg_logits.flip(dims=(3, ) if direction == 'horizontal' else (2, ))
                i_seg_logits = resize(i_seg_logits, size=img_meta['ori_shape'], mode='bilinear',
                                      align_corners=self.align_corners, warning=False).squeeze(0)
            i_seg_pred = i_seg_logits.max(dim=0, keepdim=True)[1]
            data_samples[i].set_data({'seg_logits': PixelData(**{'data': i_seg_logits}),
                                      'pred_sem_seg': PixelData(**{'data': i_seg_pred})})
        return data_samples

    # ------------------------------------------------------------------ checkpoints
    def optional_state_dict_prefixes(self) -> tuple:
        """Key prefixes a checkpoint may leave out: the frozen CLIP (built from the config's ``clip.pretrained``) and
        training-only loss parameters (InfoNCE temperatures), which a converted official checkpoint may not carry
        (a release without them, or ``--drop-temperatures``)."""
        return ('clip.', ) + tuple(f'{name}.' for name, _ in self.named_children() if 'loss' in name)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if self.load_strict:
            check_checkpoint_keys(self, state_dict, prefix)
        upgrade_state_dict(state_dict, prefix)          # children are loaded after this, from the renamed keys
        return super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def loss(self, inputs, data_samples: list) -> dict:
        raise NotImplementedError(f'{type(self).__name__} has no training loss; use TCL or CoDe.')
