"""Image-caption streaming (``ImageTextDataset``), its transforms, and the VOC-style benchmark dataset with a class
file (``ClassListSegDataset``)."""
from . import transforms  # noqa: F401
from . import coco_object, voc20  # noqa: F401  (evaluation benchmarks: COCOObjectDataset, PascalVOC20Dataset)
from .class_list_dataset import ClassListSegDataset
from .image_text_dataset import ImageTextDataset
from .skip import SkipCounter, SkipSample

__all__ = ['ImageTextDataset', 'ClassListSegDataset', 'SkipCounter', 'SkipSample']
