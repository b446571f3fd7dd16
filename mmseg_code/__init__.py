"""mmseg-code: CoDe, TCL and sibling text-supervised segmentation methods for MMSegmentation 1.x.

Importing this package registers every module of the plugin into mmseg's registries
(``MODELS``, ``DATASETS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``), so a config only needs
``custom_imports = dict(imports=['mmseg_code'], allow_failed_imports=False)``. It changes nothing else in MMEngine,
mmseg or torch: crash-safe, weights-only-clean checkpoints (``AtomicCheckpointHook``), strict checkpoint keys (the
segmentors' own loading) and the reliability hooks are components the configs turn on
(``configs/_base_/default_runtime.py``), so every entry point that builds a Runner from a config gives the same run.
"""
from .version import __version__
from . import compat  # noqa: F401  (helpers only: nothing is patched on import)
from . import datasets, engine, evaluation, models  # noqa: F401
from . import apis  # noqa: F401

__all__ = ['__version__']
