"""COCO-Object: the 80 COCO thing classes plus background, on COCO-Stuff-164k images (GroupViT/TCL benchmark).

Label maps are ``<image>_instanceTrainIds.png`` next to COCO-Stuff's own PNGs, written by
``tools/dataset_converters/coco_object.py`` from the COCO-Stuff stuffthingmaps:

    0        background (every stuff class and the unlabelled value 255: there are no ignored pixels)
    1 … 80   the thing classes in COCO-Stuff order ('person', 'bicycle', …, 'toothbrush')

Layout (as mmseg's ``coco-stuff164k`` config): ``<data_root>/images/val2017/*.jpg`` and
``<data_root>/annotations/val2017/*_instanceTrainIds.png``.
"""
from mmseg.datasets import BaseSegDataset, COCOStuffDataset
from mmseg.registry import DATASETS

COCO_OBJECT_CLASSES = ('background', ) + tuple(COCOStuffDataset.METAINFO['classes'][:80])


@DATASETS.register_module()
class COCOObjectDataset(BaseSegDataset):
    """COCO-Object (81 classes, background first, ``reduce_zero_label=False``).

    Args:
        img_suffix: image suffix (``.jpg``).
        seg_map_suffix: label-map suffix (``_instanceTrainIds.png``).
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments.
    """

    METAINFO = dict(
        classes=COCO_OBJECT_CLASSES,
        palette=[[0, 0, 0]] + [list(p) for p in COCOStuffDataset.METAINFO['palette'][:80]])

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '_instanceTrainIds.png', **kwargs) -> None:
        kwargs.setdefault('reduce_zero_label', False)
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
