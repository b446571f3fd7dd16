"""Referring-segmentation annotations: parsing of the original formats into one record format, mask decoding.

Record (one per image), the format of the project's JSON files (``ReferSegDataset``) and of the loaders::

    dict(file_name=str, height=int, width=int, image_id=..., refs=[
        dict(ref_id=..., sentences=[str, ...], segmentation=SEG, bbox=[x, y, w, h] | None, category_id=... | None)])

``SEG`` is one of
    * ``{'polygons': [[x1, y1, x2, y2, ...], ...]}`` — COCO polygons (flat, pixel coordinates); several = union;
    * ``{'rle': {'size': [h, w], 'counts': [...] | str}}`` — COCO RLE (uncompressed list, or compressed string with
      pycocotools installed);
    * ``{'png': 'relative/path.png', 'value': v}`` — pixels of a label PNG equal to ``v``.

Sources:
    * RefCOCO / RefCOCO+ / RefCOCOg (``refer`` layout, Yu et al. / Mao et al.): ``<root>/<dataset>/refs(<split_by>).p``
      (pickled list of refs: ``ref_id, ann_id, image_id, split, sentences[{sent, raw, tokens}], category_id``) and
      ``<root>/<dataset>/instances.json`` (COCO ``images`` and ``annotations`` with ``segmentation``, ``bbox``).
    * PhraseCut (``VGPhraseCut_v0``): ``refer_<split>.json``, a list of tasks ``task_id, image_id, phrase,
      Polygons`` (per instance, a list of polygons, each a list of ``[x, y]``), ``instance_boxes``; image sizes from
      ``image_data_split.json`` (``image_id, width, height``) when given.
"""
from __future__ import annotations

import json
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Dict, List, Optional

import cv2
import numpy as np

REFCOCO_SPLIT_BY = {'refcoco': 'unc', 'refcoco+': 'unc', 'refcocog': 'umd'}
REFCOCO_SPLITS = {'refcoco': ('train', 'val', 'testA', 'testB'), 'refcoco+': ('train', 'val', 'testA', 'testB'),
                  'refcocog': ('train', 'val', 'test')}


# ---------------------------------------------------------------------------------------------------- masks
def rle_decode(rle: dict) -> np.ndarray:
    """COCO RLE → ``h×w`` bool (column-major runs starting with zeros). Compressed strings need pycocotools."""
    h, w = rle['size']
    counts = rle['counts']
    if isinstance(counts, (str, bytes)):
        try:
            from pycocotools import mask as mask_utils
        except ImportError as e:
            raise ImportError('compressed RLE needs pycocotools: pip install -e .[optional]') from e
        r = dict(size=[h, w], counts=counts.encode() if isinstance(counts, str) else counts)
        return mask_utils.decode(r).astype(bool)
    flat = np.zeros(h * w, dtype=bool)
    pos, val = 0, False
    for c in counts:
        if val:
            flat[pos:pos + c] = True
        pos += c
        val = not val
    return flat.reshape(w, h).T


def rle_encode(mask: np.ndarray) -> dict:
    """``h×w`` bool → uncompressed COCO RLE (inverse of :func:`rle_decode`)."""
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)
    counts, val, run = [], False, 0
    for v in flat:
        if v != val:
            counts.append(run)
            val, run = v, 0
        run += 1
    counts.append(run)
    return dict(size=[int(mask.shape[0]), int(mask.shape[1])], counts=[int(c) for c in counts])


def polygons_to_mask(polygons: List[List[float]], h: int, w: int) -> np.ndarray:
    """Union of flat polygons ``[x1, y1, x2, y2, ...]`` rasterised on ``h×w`` (bool)."""
    m = np.zeros((h, w), dtype=np.uint8)
    pts = [np.round(np.asarray(p, dtype=np.float64).reshape(-1, 2)).astype(np.int32) for p in polygons if len(p) >= 6]
    if pts:
        cv2.fillPoly(m, pts, 1)
    return m.astype(bool)


def decode_segmentation(seg: dict, h: int, w: int, root: str = '') -> np.ndarray:
    """A record's ``segmentation`` (see the module docstring) → ``h×w`` bool."""
    if 'polygons' in seg:
        return polygons_to_mask(seg['polygons'], h, w)
    if 'rle' in seg:
        return rle_decode(seg['rle'])
    if 'png' in seg:
        from PIL import Image
        arr = np.asarray(Image.open(osp.join(root, seg['png'])))
        return arr == seg.get('value', 1)
    raise ValueError(f'unknown segmentation format: keys {sorted(seg)}')


def coco_segmentation(seg) -> dict:
    """A COCO annotation's ``segmentation`` (polygons list or RLE dict) → ``SEG``."""
    if isinstance(seg, list):
        return {'polygons': [list(map(float, p)) for p in seg]}
    return {'rle': seg}


# ---------------------------------------------------------------------------------------------------- RefCOCO
def load_refcoco(data_root: str, dataset: str = 'refcoco', split: str = 'val', split_by: Optional[str] = None,
                 image_prefix: str = '') -> List[Dict]:
    """Records of one split of RefCOCO / RefCOCO+ / RefCOCOg from the ``refer`` layout.

    Args:
        data_root: directory containing ``<dataset>/refs(<split_by>).p`` and ``<dataset>/instances.json``.
        dataset: 'refcoco' | 'refcoco+' | 'refcocog'.
        split: 'train', 'val', 'testA', 'testB' (RefCOCO/+), 'test' (RefCOCOg umd).
        split_by: 'unc' (RefCOCO/+), 'umd' (RefCOCOg, default) or 'google'.
        image_prefix: prepended to COCO ``file_name`` (e.g. 'train2014/').
    """
    split_by = split_by or REFCOCO_SPLIT_BY.get(dataset, 'unc')
    base = osp.join(data_root, dataset)
    with open(osp.join(base, f'refs({split_by}).p'), 'rb') as f:
        refs = pickle.load(f)
    with open(osp.join(base, 'instances.json')) as f:
        inst = json.load(f)
    images = {im['id']: im for im in inst['images']}
    anns = {a['id']: a for a in inst['annotations']}
    out: 'OrderedDict[int, dict]' = OrderedDict()
    for ref in refs:
        if ref['split'] != split:
            continue
        im = images[ref['image_id']]
        ann = anns[ref['ann_id']]
        rec = out.setdefault(im['id'], dict(file_name=image_prefix + im['file_name'], height=int(im['height']),
                                            width=int(im['width']), image_id=im['id'], refs=[]))
        rec['refs'].append(dict(ref_id=ref['ref_id'], sentences=[s['sent'] for s in ref['sentences']],
                                segmentation=coco_segmentation(ann['segmentation']), bbox=ann.get('bbox'),
                                category_id=ref.get('category_id')))
    return list(out.values())


# ---------------------------------------------------------------------------------------------------- PhraseCut
def load_phrasecut(ann_file: str, image_info_file: Optional[str] = None, image_prefix: str = '') -> List[Dict]:
    """Records of a PhraseCut ``refer_<split>.json`` (one ref per task; polygons of all its instances).

    Image sizes come from ``image_info_file`` (``image_data_split.json``); without it they are 0 and the loading
    transform reads them from the image.
    """
    with open(ann_file) as f:
        tasks = json.load(f)
    sizes = {}
    if image_info_file:
        with open(image_info_file) as f:
            sizes = {d['image_id']: (int(d['height']), int(d['width'])) for d in json.load(f)}
    out: 'OrderedDict[int, dict]' = OrderedDict()
    for t in tasks:
        h, w = sizes.get(t['image_id'], (0, 0))
        rec = out.setdefault(t['image_id'], dict(file_name=f"{image_prefix}{t['image_id']}.jpg", height=h, width=w,
                                                 image_id=t['image_id'], refs=[]))
        polys = [np.asarray(p, dtype=np.float64).reshape(-1).tolist() for inst in t.get('Polygons', []) for p in inst]
        boxes = t.get('instance_boxes') or []
        bbox = None
        if boxes:
            b = np.asarray(boxes, dtype=np.float64)
            x0, y0 = b[:, 0].min(), b[:, 1].min()
            bbox = [float(x0), float(y0), float((b[:, 0] + b[:, 2]).max() - x0), float((b[:, 1] + b[:, 3]).max() - y0)]
        rec['refs'].append(dict(ref_id=t['task_id'], sentences=[t['phrase']], segmentation={'polygons': polys},
                                bbox=bbox, category_id=None))
    return list(out.values())


# ---------------------------------------------------------------------------------------------------- project JSON
def dump_records(records: List[Dict], path: str, **meta) -> None:
    """Write records as the project's JSON (``{'meta': {...}, 'images': records}``)."""
    with open(path, 'w') as f:
        json.dump(dict(meta=meta, images=records), f)


def load_records(path: str) -> List[Dict]:
    with open(path) as f:
        data = json.load(f)
    return data['images'] if isinstance(data, dict) else data
