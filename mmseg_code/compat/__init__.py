"""Compatibility helpers for the pinned stack (torch 2.14, mmengine 0.10.7, mmcv 2.1.0, mmseg 1.2.2).

Nothing here runs on import: importing the plugin registers modules and changes nothing else in MMEngine, mmseg or
torch. ``init_cpu_distributed`` is called by ``tools/train.py``/``tools/test.py`` for gloo DDP without GPUs.
"""
from .dist import init_cpu_distributed, teardown_distributed

__all__ = ['init_cpu_distributed', 'teardown_distributed']
