"""Referring-segmentation datasets (one item = one image with all its referring expressions).

``data_info`` of an item::

    img_path, height, width, image_id, split,
    expressions = [sentence, ...]            # every (ref, sentence) pair of the image, in order
    expr_ref = [ref index of each expression]
    refs = [dict(ref_id, sentences, segmentation, bbox)]    # see refer_format.py
    seg_root                                  # root of PNG masks (generated benchmark)

Training pipelines sample a few expressions (``SampleReferExpressions``); evaluation pipelines load one GT mask per
expression (``LoadReferMasks``) so the metric averages over all image-expression pairs.
"""
from __future__ import annotations

import os.path as osp
from typing import List, Optional

from mmengine.dataset import BaseDataset
from mmseg.registry import DATASETS

from .refer_format import REFCOCO_SPLITS, load_phrasecut, load_records, load_refcoco

REFER_METAINFO = dict(classes=('background', 'referred'), palette=[[0, 0, 0], [255, 64, 64]])


class _ReferBase(BaseDataset):
    METAINFO = REFER_METAINFO

    def __init__(self, split: str = 'val', img_prefix: str = '', min_sentences: int = 1, **kwargs) -> None:
        self.split = split
        self.img_prefix = img_prefix
        self.min_sentences = min_sentences
        kwargs.setdefault('serialize_data', True)
        super().__init__(**kwargs)

    def records(self) -> List[dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        # mmengine's BaseDataset has already joined a relative data_prefix['img_path'] onto data_root
        img_dir = self.data_prefix.get('img_path') or osp.join(self.data_root or '', self.img_prefix)
        out = []
        for rec in self.records():
            exprs, expr_ref = [], []
            for k, ref in enumerate(rec['refs']):
                for s in ref['sentences']:
                    exprs.append(s)
                    expr_ref.append(k)
            if len(exprs) < self.min_sentences:
                continue
            out.append(dict(img_path=osp.join(img_dir, rec['file_name']), height=rec.get('height', 0),
                            width=rec.get('width', 0), image_id=rec.get('image_id'), split=self.split,
                            refs=rec['refs'], expressions=exprs, expr_ref=expr_ref,
                            seg_root=self.data_root or ''))
        return out

    def __len__(self) -> int:  # mmengine's logger asks before full init in some paths
        if not self._fully_initialized:
            self.full_init()
        return super().__len__()


@DATASETS.register_module()
class ReferSegDataset(_ReferBase):
    """The project's JSON format (written by the converters and the synthetic benchmark).

    Args:
        ann_file: JSON file (``{'meta', 'images': records}``), relative to ``data_root``.
        split: the split name reported by the metric.
        data_prefix: ``dict(img_path=...)`` image directory relative to ``data_root``.
    """

    def records(self) -> List[dict]:
        return load_records(self.ann_file)


@DATASETS.register_module()
class RefCOCOSegDataset(_ReferBase):
    """RefCOCO / RefCOCO+ / RefCOCOg straight from the ``refer`` layout (``refs(<split_by>).p`` + instances.json).

    Args:
        data_root: directory with ``refcoco/``, ``refcoco+/``, ``refcocog/`` (the ``refer`` data folder).
        dataset: 'refcoco' | 'refcoco+' | 'refcocog'.
        split: see ``REFCOCO_SPLITS``.
        split_by: None → 'unc' for RefCOCO/+, 'umd' for RefCOCOg.
        data_prefix: ``dict(img_path='images/train2014')`` COCO train2014 image directory relative to data_root.
    """

    def __init__(self, dataset: str = 'refcoco', split: str = 'val', split_by: Optional[str] = None,
                 **kwargs) -> None:
        if dataset not in REFCOCO_SPLITS:
            raise ValueError(f'dataset must be one of {sorted(REFCOCO_SPLITS)}, got {dataset!r}')
        self.dataset, self.split_by = dataset, split_by
        super().__init__(split=split, **kwargs)

    def records(self) -> List[dict]:
        return load_refcoco(self.data_root, self.dataset, self.split, self.split_by)


@DATASETS.register_module()
class PhraseCutSegDataset(_ReferBase):
    """PhraseCut (VGPhraseCut_v0) from ``refer_<split>.json``.

    Args:
        data_root: the VGPhraseCut_v0 directory.
        split: 'train' | 'val' | 'test' | 'miniv'.
        ann_file: default ``refer_<split>.json``.
        image_info_file: ``image_data_split.json`` (image sizes), relative to data_root; optional.
        data_prefix: ``dict(img_path='images')`` Visual Genome image directory.
    """

    def __init__(self, split: str = 'val', ann_file: str = '', image_info_file: Optional[str] = 'image_data_split.json',
                 **kwargs) -> None:
        self.image_info_file = image_info_file
        super().__init__(split=split, ann_file=ann_file or f'refer_{split}.json', **kwargs)

    def records(self) -> List[dict]:
        info = osp.join(self.data_root or '', self.image_info_file) if self.image_info_file else None
        return load_phrasecut(self.ann_file, info if info and osp.isfile(info) else None)
