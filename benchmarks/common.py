"""Shared pieces of the benchmark scripts: model/batch construction from the experiment configs, timing, devices.

Models come from the real configs (``configs/code/code_tiny.py``, ``configs/code/code_vitb16_cc.py`` …) with
``pretrained=None`` (architecture only: no weights are needed to time a step); batches come from the real caption
transforms (clean caption → select nouns → tokenize with noun spans → pack) on synthetic images, so every tensor has
the shape and dtype the training loop feeds.
"""
from __future__ import annotations

import os
import os.path as osp
import statistics
import sys
import time
from typing import Callable

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

ARCHS = {
    # name: (config, image size)
    'tiny': ('configs/code/code_tiny.py', 224),
    'shapes': ('configs/code/code_tiny_shapes.py', 64),
    'vitb16': ('configs/code/code_vitb16_cc.py', 224),
}
TCL_ARCHS = {
    'tiny': 'configs/tcl/tcl_tiny.py',
    'shapes': 'configs/tcl/tcl_tiny_shapes.py',
    'vitb16': 'configs/tcl/tcl_vitb16_cc.py',
}
CAPTIONS = ['a red circle above a blue square', 'a green triangle and a yellow star', 'a blue star beside a circle',
            'a yellow square under a green circle', 'a photo of a dog on a sofa', 'a man riding a horse on the beach',
            'two cats sleeping on a bed', 'a red car parked near a tree']


def device_of(name: str) -> torch.device:
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    return torch.device(name)


def describe_device(dev: torch.device) -> str:
    if dev.type == 'cuda':
        return f'cuda ({torch.cuda.get_device_name(dev)})'
    return f'cpu ({torch.get_num_threads()} threads)'


def quiet() -> None:
    """Keep MMEngine's INFO lines (paramwise options, weight loading) out of the tables."""
    import logging
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    for h in MMLogger.get_current_instance().handlers:
        h.setLevel(logging.WARNING)


def load_config(path: str, method_cfg: dict | None = None):
    import mmseg_code  # noqa: F401  (registers the plugin)
    quiet()
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, path))
    cfg.model.clip.pretrained = None
    if method_cfg:
        cfg.merge_from_dict(method_cfg)
    return cfg


def build_model(cfg, dev: torch.device):
    from mmseg.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.to(dev)


def make_batch(cfg, batch_size: int, image_size: int, dev: torch.device, seed: int = 0):
    """``(inputs, data_samples)`` after the model's data preprocessor, from the config's caption transforms."""
    from mmseg.registry import TRANSFORMS
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    pipeline = cfg.train_dataloader.dataset.pipeline
    keep = [t for t in pipeline if t['type'] in ('CleanCaption', 'SelectNouns', 'TokenizeCaptionWithNouns',
                                                 'PackImageTextInputs')]
    for t in keep:
        if t['type'] == 'SelectNouns':
            t['tagger'] = 'builtin'   # offline tagger: no NLTK download needed to time a step
    transforms = [TRANSFORMS.build(t) for t in keep]
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(batch_size):
        img = rng.integers(0, 255, size=(image_size, image_size, 3), dtype=np.uint8)
        results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2], caption=CAPTIONS[i % len(CAPTIONS)],
                       key=f'{i:09d}')
        for t in transforms:
            results = t(results)
        samples.append(results)
    data = dict(inputs=[s['inputs'] for s in samples], data_samples=[s['data_samples'] for s in samples])
    model_pre = cfg.model.data_preprocessor
    from mmseg.registry import MODELS
    pre = MODELS.build(model_pre).to(dev)
    out = pre(data, training=True)
    return out['inputs'], out['data_samples']


def sync(dev: torch.device) -> None:
    if dev.type == 'cuda':
        torch.cuda.synchronize(dev)


def timeit(fn: Callable[[], object], dev: torch.device, warmup: int = 1, repeat: int = 3) -> float:
    """Median seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    sync(dev)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync(dev)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timeit_interleaved(fns: dict, dev: torch.device, warmup: int = 1, repeat: int = 3,
                       clock: Callable[[], float] = time.perf_counter) -> dict:
    """Median seconds of each ``fns[k]()``, the functions run round-robin (one repetition of each per round).

    On a shared or throttling machine the load drifts over a run; interleaving exposes every function to the same
    drift, so ratios of the medians compare like with like (timing one function after the other does not).
    ``clock=time.process_time`` (CPU only) counts this process's CPU seconds instead of wall seconds: on a CPU shared
    with other jobs, the work itself, not the share of the cores this process got.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync(dev)
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = clock()
            fn()
            sync(dev)
            times[k].append(clock() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def flops_of(fn: Callable[[], object]) -> float:
    """Floating-point operations (2 per multiply-add) of ``fn()`` counted by ``torch.utils.flop_counter``
    (matmuls, convolutions, attention; element-wise ops are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)
        os.environ['OMP_NUM_THREADS'] = str(n)
