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

import numpy as np
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
from mmseg.apis import MMSegInferencer
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

from .visualization import draw_overlay

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
    if getattr(model, 'vocabulary', None) is None:
        raise ValueError('No vocabulary: pass vocabulary="cat, dog, ..." (or set model.vocabulary in the config).')
    meta = model.dataset_meta
    if palette is not None:
        if len(palette) != len(meta['classes']):
            raise ValueError(f'palette has {len(palette)} colours for {len(meta["classes"])} classes {meta["classes"]}')
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
    'visualization'}`` and writes ``out/vis/<name>`` (overlay + legend) and ``out/pred/*.png`` (label maps).
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

    def visualize(self, inputs: list, preds: list, return_vis: bool = False, show: bool = False,
                  wait_time: int = 0, img_out_dir: str = '', opacity: float = 0.5,
                  with_labels: Optional[bool] = True):
        return super().visualize(inputs, preds, return_vis=return_vis, show=show, wait_time=wait_time,
                                 img_out_dir=img_out_dir, opacity=opacity, with_labels=with_labels)

    def overlay(self, image: np.ndarray, sem_seg: np.ndarray, alpha: float = 0.5,
                side_by_side: bool = False) -> np.ndarray:
        """RGB overlay + legend of one prediction (``image`` RGB ``H×W×3``, ``sem_seg`` ``H×W``)."""
        meta = self.model.dataset_meta
        return draw_overlay(image, sem_seg, meta['classes'], meta['palette'], alpha=alpha,
                            side_by_side=side_by_side)
