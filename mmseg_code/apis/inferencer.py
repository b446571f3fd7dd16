"""Open-vocabulary inference: ``OVSegInferencer`` (an ``MMSegInferencer`` that takes any vocabulary) and
``init_segmentor`` (``mmseg.apis.init_model`` for the plugin's segmentors).

Two lines for a user::

    inferencer = OVSegInferencer('configs/code/code_vitb16_paper.py', weights='code.pth',
                                 vocabulary='cat, dog, grass', background=True)
    result = inferencer('photo.jpg', out_dir='out')   # out/vis/photo.jpg (overlay + legend), out/pred/*.png

What it fixes with respect to a plain ``MMSegInferencer`` on these models:

* the vocabulary is set on the model (``set_vocabulary``); the class embeddings are computed once per vocabulary and
  cached on the model, not per image;
* ``model.dataset_meta`` / the visualiser get the vocabulary's class names and an automatic palette instead of
  Cityscapes' (``MMSegInferencer`` falls back to Cityscapes for checkpoints without ``meta``, and its ``__init__``
  passes ``(classes, palette, dataset_name)`` to ``set_dataset_meta`` in the wrong order);
* a config without ``test_dataloader`` / ``visualizer`` still works (TCL's test pipeline: short side 448);
* the default visualiser draws a legend (``SegLegendVisualizer``).

Vocabulary syntax: :func:`mmseg_code.models.vocab.parse_vocabulary` (``"cat, dog, grass"``, ``"cat, kitten; dog"``,
one class per line, a list, a ``.txt`` file). ``background``: True adds a background output (constant ``bg_thresh``
plane, label 0); 'auto' does so iff the first class is named "background".
"""
from __future__ import annotations

import copy
import os
import os.path as osp
from typing import Optional, Sequence, Union

import mmcv
import numpy as np
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
from mmseg.apis import MMSegInferencer
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules
from PIL import Image

from .visualization import draw_overlay
from ..utils.options import OptionError

VocabularyType = Union[str, Sequence[Union[str, Sequence[str]]]]

# TCL/CoDe test pipeline (short side 448, long side <= 2048), used when a config has no test_dataloader.
DEFAULT_TEST_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 448), keep_ratio=True),
    dict(type='PackSegInputs'),
]
DEFAULT_VISUALIZER = dict(type='SegLegendVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                          name='visualizer', alpha=0.5)


def _load_config(model: Union[str, Config, dict]) -> Config:
    if isinstance(model, (str, os.PathLike)):
        if not osp.isfile(model):
            raise FileNotFoundError(f'config not found: {model}')
        return Config.fromfile(os.fspath(model))
    if isinstance(model, Config):
        return copy.deepcopy(model)
    if isinstance(model, dict):
        return Config(copy.deepcopy(dict(model)))
    raise TypeError(f'model must be a config path, Config or dict, got {type(model)}')


def prepare_config(cfg: Config, test_cfg: Optional[dict] = None) -> Config:
    """Make a plugin config usable by ``MMSegInferencer``: a test pipeline, a visualiser (with legend), the plugin
    imported, ``test_cfg`` overrides merged into ``cfg.model.test_cfg``."""
    cfg = copy.deepcopy(cfg)
    if test_cfg:
        model_test_cfg = dict(cfg.model.get('test_cfg', None) or {})
        model_test_cfg.update(test_cfg)
        cfg.model['test_cfg'] = model_test_cfg
    try:
        pipeline = cfg.test_dataloader.dataset.pipeline
    except (AttributeError, KeyError):
        pipeline = None
    if not pipeline:
        cfg['test_dataloader'] = dict(dataset=dict(pipeline=copy.deepcopy(DEFAULT_TEST_PIPELINE)))
    if 'test_pipeline' not in cfg:
        cfg['test_pipeline'] = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    vis = cfg.get('visualizer', None)
    if vis is None or vis.get('type') in ('SegLocalVisualizer', 'mmseg.SegLocalVisualizer'):
        new = copy.deepcopy(DEFAULT_VISUALIZER)
        if vis is not None:
            new.update({k: v for k, v in vis.items() if k != 'type'})
        cfg['visualizer'] = new
    cfg.model.pop('pretrained', None)
    return cfg


def _resolve_meta(model, vocabulary: Optional[VocabularyType], background: Union[str, bool],
                  palette: Optional[Sequence]) -> dict:
    """Set the vocabulary on ``model`` (if given); its ``dataset_meta`` (class names + palette) with ``palette``."""
    if vocabulary is not None:
        model.set_vocabulary(vocabulary, background)
    current = getattr(model, 'vocabulary', None)
    if current is None:
        raise OptionError('No vocabulary: pass vocabulary="cat, dog, ..." (or set model.vocabulary in the config).')
    if vocabulary is None and isinstance(background, bool) and current.has_background != background:
        model.set_vocabulary(current.names, background)  # background=True/False also applies to the config's classes
    meta = model.dataset_meta
    if palette is not None:
        if len(palette) != len(meta['classes']):
            raise OptionError(f'palette has {len(palette)} colours for {len(meta["classes"])} classes {meta["classes"]}')
        meta['palette'] = [list(map(int, c)) for c in palette]
        model.dataset_meta = meta
    return meta


def init_segmentor(config: Union[str, Config, dict], checkpoint: Optional[str] = None, device: str = 'cpu',
                   vocabulary: Optional[VocabularyType] = None, background: Union[str, bool] = 'auto',
                   palette: Optional[Sequence] = None, test_cfg: Optional[dict] = None,
                   cfg_options: Optional[dict] = None):
    """``mmseg.apis.init_model`` for the plugin's segmentors.

    Unlike ``init_model`` it needs neither ``model.backbone`` nor ``model.decode_head`` (mmseg reads them to find
    ``init_cfg`` and to guess class names from ``num_classes``), accepts checkpoints without ``meta`` (e.g. converted
    official releases) and sets the vocabulary. The result works with ``mmseg.apis.inference_model``.
    """
    import mmseg_code  # noqa: F401  (registers the plugin; safe checkpoint loading)
    register_all_modules(init_default_scope=True)
    cfg = _load_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg = prepare_config(cfg, test_cfg)
    cfg.model['train_cfg'] = None
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        ckpt = _load_checkpoint(checkpoint, map_location='cpu')
        _load_checkpoint_to_model(model, ckpt)
    model.cfg = cfg
    _resolve_meta(model, vocabulary, background, palette)
    model.to(device)
    model.eval()
    return model


def _to_bgr(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return np.ascontiguousarray(np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, axis=2))
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(img[..., :3])
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    raise OptionError(f'An image array must be H×W, H×W×1, H×W×3 (BGR) or H×W×4 (BGRA), got shape {img.shape}.')


def _output_names(inputs: Sequence) -> list:
    """Output file stems of one call's inputs: a path's file name without extension, else the input's index in the
    call (``00000000``); a stem seen earlier in the call gets ``_<index>`` appended."""
    names, seen = [], set()
    for i, x in enumerate(inputs):
        name = osp.splitext(osp.basename(x))[0] if isinstance(x, str) and x else f'{i:08d}'
        if name in seen:
            name = f'{name}_{i}'
        seen.add(name)
        names.append(name)
    return names


class OVSegInferencer(MMSegInferencer):
    """``MMSegInferencer`` for open-vocabulary segmentors: any vocabulary, automatic palette, legend overlays.

    Args:
        model: config path, ``Config`` or dict of a plugin segmentor (TCL, CoDe, …).
        weights: checkpoint (mmengine checkpoint, plain state dict, or a converted official release).
        vocabulary: see :func:`mmseg_code.models.vocab.parse_vocabulary`; None keeps the config's
            ``model.vocabulary``.
        background: 'auto' | True | False (add a thresholded background class, label 0).
        palette: RGB colours, one per output class (default: a known dataset's, else automatic, background
            black).
        device: 'cpu', 'cuda', … (default: what mmengine finds).
        test_cfg: overrides of ``model.test_cfg`` (e.g. ``dict(mode='slide', crop_size=(448, 448),
            stride=(224, 224), pamr=True)``).
        scope: registry scope ('mmseg').

    Call it like ``MMSegInferencer``: ``inferencer(imgs, out_dir='out')`` returns ``{'predictions',
    'visualization'}`` and writes ``out/vis/<stem>.png`` (overlay + legend) and ``out/pred/<stem>.png`` (label
    map), ``<stem>`` being the input file's name without extension, or for an array its index in the call
    (``00000000``, ...). Images may be paths or arrays (BGR ``H×W×3``, BGRA, or grey ``H×W``).
    ``inferencer.set_vocabulary(...)`` switches the vocabulary between calls.
    """

    def __init__(self, model: Union[str, Config, dict], weights: Optional[str] = None,
                 vocabulary: Optional[VocabularyType] = None, background: Union[str, bool] = 'auto',
                 palette: Optional[Sequence] = None, device: Optional[str] = None, test_cfg: Optional[dict] = None,
                 scope: Optional[str] = 'mmseg') -> None:
        import mmseg_code  # noqa: F401  (registers the plugin; safe checkpoint loading)
        cfg = prepare_config(_load_config(model), test_cfg)
        super().__init__(model=cfg, weights=weights, device=device, scope=scope)
        self.set_vocabulary(vocabulary, background, palette)

    def set_vocabulary(self, vocabulary: Optional[VocabularyType], background: Union[str, bool] = 'auto',
                       palette: Optional[Sequence] = None) -> list:
        """Use ``vocabulary`` from now on; returns the output class names (``'background'`` first if any)."""
        meta = _resolve_meta(self.model, vocabulary, background, palette)
        self.visualizer.set_dataset_meta(classes=meta['classes'], palette=meta['palette'])
        return meta['classes']

    @property
    def classes(self) -> list:
        return list(self.model.dataset_meta['classes'])

    def _load_weights_to_model(self, model, checkpoint: Optional[dict], cfg) -> None:
        # No Cityscapes fallback: the vocabulary decides the classes (set in __init__). A checkpoint whose meta names
        # classes gives the vocabulary only when neither the config nor the caller does.
        if checkpoint is not None:
            _load_checkpoint_to_model(model, checkpoint)
            classes = ((checkpoint.get('meta') or {}).get('dataset_meta') or {}).get('classes')
            if classes and getattr(model, 'vocabulary', None) is None:
                model.set_vocabulary(list(classes))

    def _init_pipeline(self, cfg) -> Compose:
        cfg = copy.deepcopy(cfg)
        return super()._init_pipeline(cfg)

    def _inputs_to_list(self, inputs) -> list:
        """mmseg's input list, arrays made 3-channel BGR (grey ``H×W`` / ``H×W×1`` replicated, BGRA's alpha
        dropped), so that the model and the overlay see the same image."""
        return [_to_bgr(x) if isinstance(x, np.ndarray) else x for x in super()._inputs_to_list(inputs)]

    def visualize(self, inputs: list, preds: list, return_vis: bool = False, show: bool = False,
                  wait_time: int = 0, img_out_dir: str = '', opacity: float = 0.5,
                  with_labels: Optional[bool] = True):
        """Overlays + legend (``SegLegendVisualizer``), written as ``<img_out_dir>/<stem>.png``."""
        if not show and img_out_dir == '' and not return_vis:
            return None
        self.visualizer.set_dataset_meta(**self.model.dataset_meta)
        self.visualizer.alpha = opacity
        results = []
        for name, single_input, pred in zip(_output_names(inputs), inputs, preds):
            if isinstance(single_input, str):
                img = mmcv.imread(single_input, channel_order='rgb')
            else:
                img = single_input[..., ::-1].copy()                  # BGR (as mmcv reads) → RGB
            out_file = osp.join(img_out_dir, name + '.png') if img_out_dir else None
            self.visualizer.add_datasample(name, img, pred, show=show, wait_time=wait_time, draw_gt=False,
                                           draw_pred=True, out_file=out_file, with_labels=with_labels)
            if return_vis:
                results.append(self.visualizer.get_image())
        return results if return_vis else None

    def postprocess(self, preds: list, visualization, return_datasample: bool = False, pred_out_dir: str = ''):
        """mmseg's results; label maps written as ``<pred_out_dir>/<stem>.png``."""
        results = super().postprocess(preds, visualization, return_datasample, pred_out_dir='')
        if pred_out_dir and not return_datasample:
            os.makedirs(pred_out_dir, exist_ok=True)
            names = _output_names([p.metainfo.get('img_path') for p in preds])
            for name, pred in zip(names, preds):
                label = pred.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)
                Image.fromarray(label).save(osp.join(pred_out_dir, name + '.png'))
        return results

    def overlay(self, image: np.ndarray, sem_seg: np.ndarray, alpha: float = 0.5,
                side_by_side: bool = False) -> np.ndarray:
        """RGB overlay + legend of one prediction (``image`` RGB ``H×W×3``, ``sem_seg`` ``H×W``)."""
        meta = self.model.dataset_meta
        return draw_overlay(image, sem_seg, meta['classes'], meta['palette'], alpha=alpha,
                            side_by_side=side_by_side)
