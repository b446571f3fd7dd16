"""``TSEGInferencer``: segment the regions that referring expressions describe, in any image.

    inferencer = TSEGInferencer('projects/tseg/configs/tseg_vits16-bert-small_4xb8-120k_phrasecut-384x384.py',
                                weights='tseg_phrasecut.pth')
    res = inferencer('photo.jpg', ['the man in the red shirt', 'green grass'])
    res['masks']   # K×H×W bool (original size), res['probs'] K×H×W, res['scores'] K (σ(z), image-level confidence)

The config's test pipeline is reused without its annotation loading; the image may be a path or an RGB/BGR array.
"""
from __future__ import annotations

import copy
from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.runner.checkpoint import load_checkpoint
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

class TSEGInferencer:
    """Args:
        model: config path or ``Config``.
        weights: checkpoint (None: the config's initialisation, e.g. pretrained encoders).
        device: 'cpu' | 'cuda' ….
        cfg_options: overrides merged into the config (e.g. ``{'model.image_encoder.pretrained': False}``).
    """

    def __init__(self, model: Union[str, Config], weights: Optional[str] = None, device: str = 'cpu',
                 cfg_options: Optional[dict] = None) -> None:
        register_all_modules(init_default_scope=True)
        import mmseg_code  # noqa: F401
        from .. import datasets, evaluation, models  # noqa: F401
        cfg = Config.fromfile(model) if isinstance(model, str) else copy.deepcopy(model)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        self.cfg = cfg
        self.model = MODELS.build(cfg.model)
        if weights:
            load_checkpoint(self.model, weights, map_location='cpu')
        self.model.to(device).eval()
        steps = [dict(type='LoadImageFromNDArray')]
        for t in cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', []):
            if t['type'] not in ('LoadImageFromFile', 'LoadReferMasks', 'LoadAnnotations'):
                steps.append(t)
        if steps[-1]['type'] != 'PackReferInputs':
            steps.append(dict(type='PackReferInputs'))
        self.pipeline = Compose(steps)

    @torch.no_grad()
    def __call__(self, image: Union[str, np.ndarray], expressions: Union[str, Sequence[str]]) -> dict:
        """``image``: path or BGR ``H×W×3`` uint8 (as mmcv reads it); ``expressions``: one or several strings."""
        import mmcv
        img = mmcv.imread(image) if isinstance(image, str) else image
        exprs = [expressions] if isinstance(expressions, str) else list(expressions)
        data = self.pipeline(dict(img=img, expressions=exprs, expr_ref=list(range(len(exprs)))))
        batch = self.model.data_preprocessor(dict(inputs=[data['inputs']], data_samples=[data['data_samples']]),
                                             False)
        out = self.model.predict(batch['inputs'], batch['data_samples'])[0]
        return dict(expressions=exprs, masks=out.pred_masks.data.cpu().numpy(),
                    probs=out.seg_logits.data.cpu().numpy(), scores=out.pred_scores.cpu().numpy())

    @staticmethod
    def overlay(image_rgb: np.ndarray, masks: np.ndarray, opacity: float = 0.5,
                expressions: Optional[Sequence[str]] = None) -> np.ndarray:
        """The masks over the RGB image, one colour per expression, outlined (they may overlap), with a legend of
        the expressions (``mmseg_code.apis.visualization.draw_masks``)."""
        from mmseg_code.apis.visualization import draw_masks
        names = list(expressions) if expressions is not None else [f'expression {k}' for k in range(len(masks))]
        return draw_masks(image_rgb, masks, names, alpha=opacity)
