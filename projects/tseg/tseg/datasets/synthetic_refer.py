"""A generated referring-segmentation benchmark from the plugin's synthetic shapes (``generate_sample``).

Each image has 1..max_objects non-overlapping coloured shapes. Every object gets the expressions that single it
out among the image's objects (only unambiguous ones are kept):

    "the red circle"                       colour + shape unique in the image
    "the circle" / "the red object"        shape / colour unique
    "the red circle left of the square"    relation to another object whose shape is unique
    "the left circle" / "the top circle"   two objects of the same shape, told apart by position

Instance masks: the generator's label map gives the class (shape) of each pixel; pixels of a class shared by
several objects go to the nearest object centre (the objects do not overlap). Masks are written as an instance PNG
per image (value i+1 = object i) and referenced from the project's JSON (``{'png', 'value'}``).
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np

from mmseg_code.datasets.synthetic_shapes import (ShapesConfig, encode_jpeg, generate_sample)

from .refer_format import dump_records


def _relation(a: Tuple[float, float], b: Tuple[float, float]) -> str:
    """Where centre ``a`` is with respect to ``b`` (x right, y down): the dominant axis decides."""
    dx, dy = a[0] - b[0], a[1] - b[1]
    if abs(dx) >= abs(dy):
        return 'left of' if dx < 0 else 'right of'
    return 'above' if dy < 0 else 'below'


def referring_expressions(objects: List[Dict]) -> List[List[str]]:
    """Per object, its unambiguous referring expressions (at least one: colour + shape + position words)."""
    shapes = [o['shape'] for o in objects]
    colours = [o['colour'] for o in objects]
    pairs = list(zip(colours, shapes))
    out = []
    for i, o in enumerate(objects):
        c, s = o['colour'], o['shape']
        exprs = []
        if pairs.count((c, s)) == 1:
            exprs.append(f'the {c} {s}')
        if shapes.count(s) == 1:
            exprs.append(f'the {s}')
        if colours.count(c) == 1 and len(objects) > 1:
            exprs.append(f'the {c} object')
        for j, other in enumerate(objects):
            if j != i and shapes.count(other['shape']) == 1 and pairs.count((c, s)) == 1:
                exprs.append(f"the {c} {s} {_relation(o['centre'], other['centre'])} the {other['shape']}")
        same = [j for j, t in enumerate(shapes) if t == s]
        if len(same) == 2:
            j = same[1] if same[0] == i else same[0]
            dx = o['centre'][0] - objects[j]['centre'][0]
            dy = o['centre'][1] - objects[j]['centre'][1]
            if abs(dx) >= abs(dy):
                exprs.append(f"the {'left' if dx < 0 else 'right'} {s}")
            else:
                exprs.append(f"the {'top' if dy < 0 else 'bottom'} {s}")
        if not exprs:   # three identical shapes: fall back to the exact colour+shape+ordinal on x
            xs = sorted((objects[j]['centre'][0], j) for j in same)
            exprs.append(f"the {['first', 'second', 'third', 'fourth'][[j for _, j in xs].index(i)]} {s} "
                         'from the left')
        out.append(exprs)
    return out


def instance_map(label: np.ndarray, objects: List[Dict], shapes: Tuple[str, ...]) -> np.ndarray:
    """``H×W`` uint8: 0 background, i+1 where object i is (class pixels split by nearest object centre)."""
    h, w = label.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inst = np.zeros((h, w), np.uint8)
    for k, shape in enumerate(shapes):
        idx = [i for i, o in enumerate(objects) if o['shape'] == shape]
        if not idx:
            continue
        cls = label == k + 1
        d = np.stack([(xx - objects[i]['centre'][0]) ** 2 + (yy - objects[i]['centre'][1]) ** 2 for i in idx])
        owner = np.asarray(idx)[d.argmin(0)]
        inst[cls] = owner[cls] + 1
    return inst


def write_referring_benchmark(cfg: ShapesConfig, out_dir: str, num_samples: int, split_name: str = 'val',
                              split_index: int = 1) -> str:
    """Write ``images/<split>_*.jpg``, ``instances/<split>_*.png`` and ``refs_<split>.json`` (project JSON) under
    ``out_dir``; returns the JSON path. ``split_index`` picks the generator's split (train 0, val 1, test 2)."""
    from PIL import Image
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'instances'), exist_ok=True)
    records = []
    for i in range(num_samples):
        img, label, _, objects = generate_sample(cfg, split_index, i)
        name = f'{split_name}_{i:06d}'
        with open(osp.join(out_dir, 'images', name + '.jpg'), 'wb') as f:
            f.write(encode_jpeg(img, quality=95))
        Image.fromarray(instance_map(label, objects, cfg.shapes)).save(osp.join(out_dir, 'instances', name + '.png'))
        refs = [dict(ref_id=f'{name}_{j}', sentences=exprs, segmentation=dict(png=f'instances/{name}.png', value=j + 1),
                     bbox=[o['centre'][0] - o['size'] / 2, o['centre'][1] - o['size'] / 2, o['size'], o['size']],
                     category_id=cfg.shapes.index(o['shape']) + 1)
                for j, (o, exprs) in enumerate(zip(objects, referring_expressions(objects)))]
        records.append(dict(file_name=name + '.jpg', height=cfg.image_size, width=cfg.image_size, image_id=name,
                            refs=refs))
    path = osp.join(out_dir, f'refs_{split_name}.json')
    dump_records(records, path, source='synthetic shapes', split=split_name, shapes=list(cfg.shapes),
                 colours=list(cfg.colours))
    return path
