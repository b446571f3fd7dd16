"""PASCAL VOC 2012 without its background class ("VOC20", TCL's ``PascalVOCDataset20``).

Same files as VOC21 (``SegmentationClass/*.png``, ``ImageSets/Segmentation/val.txt``); the label maps are read with
``reduce_zero_label=True``: background 0 → 255 (ignored), class k → k − 1, the 255 boundary stays ignored. So only
object pixels are scored, over 20 classes.
"""
from mmseg.datasets import BaseSegDataset, PascalVOCDataset
from mmseg.registry import DATASETS


@DATASETS.register_module()
class PascalVOC20Dataset(BaseSegDataset):
    """PASCAL VOC 2012, 20 object classes (background ignored).

    Args:
        ann_file: split file (``ImageSets/Segmentation/val.txt``).
        img_suffix: ``.jpg``.
        seg_map_suffix: ``.png``.
        reduce_zero_label: must stay True (the definition of the benchmark).
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments.
    """

    METAINFO = dict(classes=tuple(PascalVOCDataset.METAINFO['classes'][1:]),
                    palette=[list(p) for p in PascalVOCDataset.METAINFO['palette'][1:]])

    def __init__(self, ann_file: str = '', img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = True, **kwargs) -> None:
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)
