"""mmseg-code: CoDe, TCL and sibling text-supervised segmentation methods for MMSegmentation 1.x.

Importing this package registers every module of the plugin into mmseg's registries
(``MODELS``, ``DATASETS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``), so a config only needs
``custom_imports = dict(imports=['mmseg_code'], allow_failed_imports=False)``.
"""
from .version import __version__
from . import compat  # noqa: F401  (safe checkpoint loading under torch>=2.6)
from . import datasets, engine, evaluation, models  # noqa: F401
from . import apis  # noqa: F401

__all__ = ['__version__']
