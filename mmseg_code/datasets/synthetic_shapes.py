"""Synthetic "coloured shapes on textured backgrounds" data: image-caption shards for training and a VOC-layout
segmentation benchmark with exact masks, from one deterministic generator.

Each image shows 1..``max_objects`` non-overlapping saturated shapes (each 30-50 % of the image side) on a
low-saturation textured background (low-frequency colour noise + stripes/checks/grain), so objects are distinguishable
from background by colour and by shape. Captions name every object with its colour and shape and, for two objects,
their vertical relation ("a red circle above a blue square"); the shape nouns are exactly the benchmark class names, and
no other noun appears in a caption. Label i of the masks is class i of ``class_names`` = ['background', *shapes].
"""
import math
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

COLOURS: Dict[str, Tuple[int, int, int]] = {  # RGB
    'red': (220, 30, 30), 'green': (30, 170, 40), 'blue': (30, 60, 220), 'yellow': (235, 215, 20),
    'orange': (245, 130, 10), 'purple': (140, 40, 190), 'pink': (245, 100, 190), 'cyan': (20, 200, 210),
    'white': (250, 250, 250), 'black': (15, 15, 15),
}
SHAPES = ('circle', 'square', 'triangle', 'star', 'rectangle', 'hexagon', 'ellipse', 'diamond', 'heart', 'cross',
          'pentagon')


@dataclass
class ShapesConfig:
    """Generator settings.

    Attributes:
        image_size: side of the square images in pixels.
        shapes: shape vocabulary = foreground class names (subset of ``SHAPES``).
        colours: colour vocabulary (keys of ``COLOURS``).
        min_objects, max_objects: objects per image.
        colour_mode: 'random' (any colour on any shape) or 'per_class' (shape k always has colour k mod #colours,
            which makes colour a cue for the class).
        size_range: object size as a fraction of the image side.
        seed: base seed; sample i of split s is generated from ``default_rng([seed, s, i])``.
    """
    image_size: int = 96
    shapes: Sequence[str] = ('circle', 'square', 'triangle', 'star')
    colours: Sequence[str] = ('red', 'green', 'blue', 'yellow')
    min_objects: int = 1
    max_objects: int = 2
    colour_mode: str = 'random'
    size_range: Tuple[float, float] = (0.3, 0.5)
    seed: int = 0
    class_names: List[str] = field(init=False)

    def __post_init__(self) -> None:
        bad = [s for s in self.shapes if s not in SHAPES] + [c for c in self.colours if c not in COLOURS]
        if bad:
            raise ValueError(f'unknown shapes/colours {bad}; shapes: {SHAPES}; colours: {sorted(COLOURS)}')
        if not (1 <= self.min_objects <= self.max_objects <= 4) or self.image_size < 16:
            raise ValueError('need 1 <= min_objects <= max_objects <= 4 and image_size >= 16')
        if self.colour_mode not in ('random', 'per_class'):
            raise ValueError(f"colour_mode must be 'random' or 'per_class', got {self.colour_mode!r}")
        self.shapes, self.colours = tuple(self.shapes), tuple(self.colours)
        self.class_names = ['background', *self.shapes]


def _regular(n: int, r: float, rot: float, inner: Optional[float] = None) -> np.ndarray:
    """Vertices of a regular n-gon (or an n-pointed star with inner radius ``inner``), unit-centred."""
    k = 2 * n if inner else n
    ang = rot - math.pi / 2 + np.arange(k) * 2 * math.pi / k
    rad = np.where(np.arange(k) % 2 == 1, inner, r) if inner else np.full(k, r)
    return np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)


def shape_polygon(shape: str, rng: np.random.Generator) -> np.ndarray:
    """Polygon (K, 2) of ``shape`` in a unit box centred at 0 (|x|, |y| <= 0.5), slightly randomly rotated."""
    rot = rng.uniform(-0.25, 0.25)
    if shape == 'circle':
        return _regular(48, 0.5, 0)
    if shape == 'ellipse':
        p = _regular(48, 0.5, 0)
        p[:, 1] *= 0.55
    elif shape == 'square':
        p = _regular(4, 0.5 * math.sqrt(2), math.pi / 4) * 0.8
    elif shape == 'rectangle':
        p = np.array([[-0.5, -0.25], [0.5, -0.25], [0.5, 0.25], [-0.5, 0.25]])
    elif shape == 'triangle':
        p = _regular(3, 0.55, 0) + [0, 0.1]
    elif shape == 'star':
        p = _regular(5, 0.55, 0, inner=0.24) + [0, 0.04]
    elif shape == 'pentagon':
        p = _regular(5, 0.5, 0)
    elif shape == 'hexagon':
        p = _regular(6, 0.5, math.pi / 6)
    elif shape == 'diamond':
        p = np.array([[0, -0.5], [0.32, 0], [0, 0.5], [-0.32, 0]])
    elif shape == 'cross':
        a, b = 0.5, 0.17
        p = np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b], [b, a], [-b, a], [-b, b], [-a, b],
                      [-a, -b], [-b, -b]])
    elif shape == 'heart':
        t = np.linspace(0, 2 * math.pi, 60, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        p = np.stack([x, y], 1) / 34.0 + [0, 0.05]
    else:
        raise ValueError(f'unknown shape {shape!r}')
    c, s = math.cos(rot), math.sin(rot)
    return p @ np.array([[c, s], [-s, c]])


def textured_background(size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (size, size, 3) RGB: low-saturation base colour + low-frequency noise + one of stripes/checks/grain."""
    base = rng.uniform(70, 190)
    tint = rng.uniform(-18, 18, size=3)
    low = cv2.resize(rng.normal(0, 14, size=(4, 4, 3)).astype(np.float32), (size, size),
                     interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    kind = rng.integers(3)
    period = rng.uniform(6, 16) * size / 96
    if kind == 0:
        ang = rng.uniform(0, math.pi)
        pattern = 14 * np.sin(2 * math.pi * (xx * math.cos(ang) + yy * math.sin(ang)) / period)
    elif kind == 1:
        pattern = 12 * (((xx // period) + (yy // period)) % 2 * 2 - 1)
    else:
        pattern = rng.normal(0, 10, size=(size, size)).astype(np.float32)
    img = base + tint + low + pattern[..., None] + rng.normal(0, 4, size=(size, size, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def _relation(a: Tuple[float, float], b: Tuple[float, float]) -> str:
    """Spatial relation of object centre ``a`` to ``b`` (x right, y down): 'above', 'below' or 'beside'.

    Left/right are not named: in "to the left of" the word "left" is a noun (Penn Treebank), and captions must contain
    no noun other than shape names.
    """
    dx, dy = a[0] - b[0], a[1] - b[1]
    if abs(dy) >= abs(dx):
        return 'above' if dy < 0 else 'below'
    return 'beside'


def _article(word: str) -> str:
    return 'an' if word[0] in 'aeiou' else 'a'


def make_caption(objects: List[Dict], rng: np.random.Generator) -> str:
    """'a red circle', 'a red circle above a blue square', 'a red circle and a blue square', or a list of three."""
    names = [f'{_article(o["colour"])} {o["colour"]} {o["shape"]}' for o in objects]
    if len(objects) == 1:
        return names[0]
    if len(objects) == 2 and rng.random() < 0.6:
        return f'{names[0]} {_relation(objects[0]["centre"], objects[1]["centre"])} {names[1]}'
    return ', '.join(names[:-1]) + f' and {names[-1]}'


def generate_sample(cfg: ShapesConfig, split: int, index: int) -> Tuple[np.ndarray, np.ndarray, str, List[Dict]]:
    """One sample: (RGB image uint8 (S, S, 3), label map uint8 (S, S), caption, objects).

    Deterministic in (cfg.seed, split, index). Objects do not overlap (rejection sampling of their boxes).
    """
    rng = np.random.default_rng([cfg.seed, split, index])
    S = cfg.image_size
    img = textured_background(S, rng)
    label = np.zeros((S, S), dtype=np.uint8)
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    boxes: List[Tuple[float, float, float]] = []
    objects: List[Dict] = []
    for _ in range(n):
        for _try in range(30):
            side = rng.uniform(*cfg.size_range) * S
            cx, cy = rng.uniform(side / 2, S - side / 2, size=2)
            if all(abs(cx - x) > (side + s) / 2 + 1 or abs(cy - y) > (side + s) / 2 + 1 for x, y, s in boxes):
                break
        else:
            continue  # no room left; fewer objects
        k = int(rng.integers(len(cfg.shapes)))
        shape = cfg.shapes[k]
        colour = cfg.colours[k % len(cfg.colours)] if cfg.colour_mode == 'per_class' else \
            cfg.colours[int(rng.integers(len(cfg.colours)))]
        rgb = np.clip(np.array(COLOURS[colour]) + rng.normal(0, 8, 3), 0, 255)
        poly = np.round(shape_polygon(shape, rng) * side + [cx, cy]).astype(np.int32)
        cv2.fillPoly(img, [poly], tuple(float(v) for v in rgb))
        cv2.fillPoly(label, [poly], k + 1)
        boxes.append((cx, cy, side))
        objects.append(dict(shape=shape, colour=colour, centre=(float(cx), float(cy)), size=float(side)))
    if not objects:  # cannot happen with the default size range; kept for custom ones
        raise RuntimeError('generate_sample: could not place any object; reduce size_range')
    return img, label, make_caption(objects, rng), objects


VOC_PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128, 0, 128, 128, 128, 128, 128, 64, 0,
               0, 192, 0, 0, 64, 128, 0]


def encode_jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    ok, buf = cv2.imencode('.jpg', rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def encode_label_png(label: np.ndarray) -> bytes:
    """Palette ('P') PNG of a label map, VOC colours (the indices are the labels, as mmseg reads them)."""
    import io

    from PIL import Image
    im = Image.fromarray(label, mode='P')
    im.putpalette(VOC_PALETTE + [0] * (768 - len(VOC_PALETTE)))
    buf = io.BytesIO()
    im.save(buf, format='PNG')
    return buf.getvalue()


def write_caption_shards(cfg: ShapesConfig, out_dir: str, num_samples: int, shard_size: int = 1000,
                         progress: bool = True) -> List[str]:
    """Write ``num_samples`` training pairs (split 0) as img2dataset shards; each sample also carries its label map
    as ``{key}.seg.png`` and its objects in ``{key}.json``. Returns the shard paths."""
    from tqdm import tqdm

    from .webdataset_io import img2dataset_key, img2dataset_writer
    with img2dataset_writer(out_dir, maxcount=shard_size) as writer:
        for i in tqdm(range(num_samples), desc='caption shards', disable=not progress, unit='img'):
            img, label, caption, objects = generate_sample(cfg, 0, i)
            key = img2dataset_key(writer)
            writer.write({'__key__': key, 'jpg': encode_jpeg(img), 'txt': caption, 'seg.png': encode_label_png(label),
                          'json': dict(key=key, caption=caption, status='success', width=cfg.image_size,
                                       height=cfg.image_size, objects=objects)})
    return writer.written


def write_seg_benchmark(cfg: ShapesConfig, out_dir: str, num_samples: int, split_name: str = 'val',
                        progress: bool = True) -> str:
    """Write a VOC-layout benchmark (split 1): ``JPEGImages/``, ``SegmentationClass/`` (palette PNG labels),
    ``ImageSets/Segmentation/<split>.txt`` and ``class_names.txt`` (background first). Returns ``out_dir``."""
    from tqdm import tqdm
    for sub in ('JPEGImages', 'SegmentationClass', osp.join('ImageSets', 'Segmentation')):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    names = []
    for i in tqdm(range(num_samples), desc=f'benchmark {split_name}', disable=not progress, unit='img'):
        img, label, caption, _ = generate_sample(cfg, 1, i)
        name = f'{split_name}_{i:06d}'
        with open(osp.join(out_dir, 'JPEGImages', name + '.jpg'), 'wb') as f:
            f.write(encode_jpeg(img, quality=95))
        with open(osp.join(out_dir, 'SegmentationClass', name + '.png'), 'wb') as f:
            f.write(encode_label_png(label))
        names.append(name)
    with open(osp.join(out_dir, 'ImageSets', 'Segmentation', f'{split_name}.txt'), 'w') as f:
        f.write('\n'.join(names) + '\n')
    with open(osp.join(out_dir, 'class_names.txt'), 'w') as f:
        f.write('\n'.join(cfg.class_names) + '\n')
    return out_dir
