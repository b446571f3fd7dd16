"""TSEG (weakly-supervised referring expression segmentation) as an mmseg project on the mmseg-code plugin.

Importing registers the model parts (MODELS), the referring datasets (DATASETS), their transforms (TRANSFORMS) and
the referring metric (METRICS): ``custom_imports=dict(imports=['mmseg_code', 'projects.tseg.tseg'])``.
"""
from . import datasets, evaluation, models  # noqa: F401
from .apis import TSEGInferencer  # noqa: F401
