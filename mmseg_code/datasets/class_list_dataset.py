"""A VOC-layout segmentation dataset whose class names come from a text file (one class per line)."""
import os.path as osp
from typing import List, Optional

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS


def read_class_file(path: str) -> List[str]:
    """Class names, one per line (empty lines ignored; for synonym lists 'a, b' the whole line is the name)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'ClassListSegDataset: class file {path!r} does not exist')
    with open(path, encoding='utf-8') as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ValueError(f'ClassListSegDataset: class file {path!r} lists no class')
    return names


@DATASETS.register_module()
class ClassListSegDataset(BaseSegDataset):
    """mmseg ``BaseSegDataset`` (VOC layout by default: ``JPEGImages/*.jpg``, ``SegmentationClass/*.png`` label maps,
    ``ImageSets/Segmentation/<split>.txt``) with ``metainfo.classes`` read from ``class_file``.

    Label value i in the PNGs is line i of the class file (``background`` first for VOC-style benchmarks); 255 is
    ignored. ``class_file`` is resolved against ``data_root`` when relative.
    """

    def __init__(self, class_file: str, data_root: Optional[str] = None, img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png', **kwargs) -> None:
        path = class_file if osp.isabs(class_file) or data_root is None else osp.join(data_root, class_file)
        metainfo = dict(kwargs.pop('metainfo', None) or {})
        metainfo.setdefault('classes', tuple(read_class_file(path)))
        super().__init__(data_root=data_root, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         metainfo=metainfo, **kwargs)
