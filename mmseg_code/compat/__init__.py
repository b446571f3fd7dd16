"""Compatibility fixes for the pinned stack (torch 2.14, mmengine 0.10.7, mmcv 2.1.0, mmseg 1.2.2).

Each fix is the smallest correct change and is pinned by a test in ``tests/test_compat``.
"""
from .checkpoint import (SAFE_GLOBALS, CheckpointKeyError, UnsafeCheckpointError, check_checkpoint_keys,
                         register_safe_loader, register_strict_key_check, safe_torch_load, set_strict_loading)
from .checkpoint_save import CheckpointSaveError, register_safe_saving
from .dist import init_cpu_distributed, teardown_distributed

register_safe_loader()
register_safe_saving()
register_strict_key_check()

__all__ = ['SAFE_GLOBALS', 'UnsafeCheckpointError', 'register_safe_loader', 'safe_torch_load', 'CheckpointSaveError',
           'register_safe_saving', 'CheckpointKeyError', 'check_checkpoint_keys', 'register_strict_key_check',
           'set_strict_loading',
           'init_cpu_distributed', 'teardown_distributed']
