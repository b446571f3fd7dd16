"""Overlays with a legend: an automatic palette and ``SegLegendVisualizer`` (mmseg's visualizer + a legend panel).

``SegLegendVisualizer`` is a drop-in for ``SegLocalVisualizer``: ``visualizer = dict(type='SegLegendVisualizer', ...)``
makes ``tools/test.py --show-dir`` and the inferencer write ``image | colour overlay | legend`` images, the legend
listing the classes present (colour swatch + name).
"""
from __future__ import annotations

import colorsys
import functools
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.registry import VISUALIZERS
from mmseg.visualization import SegLocalVisualizer

BACKGROUND_COLOUR = (0, 0, 0)


def auto_palette(classes: Sequence[str], seed_offset: float = 0.0) -> list[list[int]]:
    """Distinct RGB colours, one per class; a class named ``background`` is black.

    Hues are spaced by the golden ratio (deterministic, neighbours far apart); saturation and value alternate so
    that long vocabularies stay distinguishable.
    """
    golden = 0.618033988749895
    out = []
    for i, name in enumerate(classes):
        if str(name).strip().lower() == 'background':
            out.append(list(BACKGROUND_COLOUR))
            continue
        h = (seed_offset + i * golden) % 1.0
        s = (0.85, 0.6, 1.0)[i % 3]
        v = (0.95, 0.75, 0.85)[(i // 3) % 3]
        out.append([int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, s, v)])
    return out


def _is_background(name) -> bool:
    return str(name).strip().lower() == 'background'


def _foreground(classes: Sequence) -> tuple:
    from mmseg_code.models.vocab import normalise_name
    names = list(classes)[1:] if classes and _is_background(classes[0]) else list(classes)
    return tuple(normalise_name(str(n)) for n in names)


@functools.lru_cache(maxsize=64)
def _dataset_palette(classes: tuple) -> Optional[tuple]:
    import mmseg.datasets  # noqa: F401  (registers mmseg's datasets)
    from mmseg.registry import DATASETS
    want = _foreground(classes)
    has_bg = len(want) < len(classes)
    for dataset in DATASETS.module_dict.values():
        meta = getattr(dataset, 'METAINFO', None) or {}
        names, palette = meta.get('classes'), meta.get('palette')
        if not names or not palette or len(palette) != len(names) or _foreground(names) != want:
            continue
        fg = list(palette[len(names) - len(want):])
        bg = [palette[0] if len(want) < len(names) else BACKGROUND_COLOUR] if has_bg else []
        return tuple(tuple(int(v) for v in c) for c in bg + fg)
    return None


def class_palette(classes: Sequence[str]) -> list[list[int]]:
    """The palette of a class list: a known dataset's colours, else :func:`auto_palette`.

    Known: the ``METAINFO`` of a dataset in mmseg's registry (mmseg's and the plugin's) whose classes are ``classes``
    up to case and spaces (``configs/vocab/ade20k.txt``'s ``bed`` is ADE's ``bed ``) and up to a leading
    ``background`` (VOC's colours for the 20 VOC objects; black for a background added to Cityscapes' 19)."""
    found = _dataset_palette(tuple(str(c) for c in classes))
    return [list(c) for c in found] if found is not None else auto_palette(classes)


def colourise(sem_seg: np.ndarray, palette: Sequence[Sequence[int]], ignore_index: int = 255) -> np.ndarray:
    """Label map ``H×W`` → RGB ``H×W×3`` (ignored / out-of-range labels black)."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[:len(palette)] = np.asarray(palette, dtype=np.uint8)[:256]
    if ignore_index < 256:
        lut[ignore_index] = 0
    return lut[np.clip(sem_seg.astype(np.int64), 0, 255)]


def legend_panel(height: int, labels: Sequence[int], classes: Sequence[str],
                 palette: Sequence[Sequence[int]], font_scale: Optional[float] = None) -> np.ndarray:
    """A white ``height×W×3`` RGB panel listing ``labels`` (swatch + class name), in columns if needed."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    if font_scale is None:
        font_scale = float(np.clip(height / 600.0, 0.3, 0.8))
    thickness = 1
    (_, th), base = cv2.getTextSize('Ag', font, font_scale, thickness)
    row = th + base + 6
    sw = th + base
    pad = 4
    labels = [int(lb) for lb in labels if 0 <= int(lb) < len(classes)]
    if not labels:
        return np.full((height, 1, 3), 255, dtype=np.uint8)
    rows = max(1, (height - pad) // row)
    cols = [labels[i:i + rows] for i in range(0, len(labels), rows)]
    widths = [max(cv2.getTextSize(str(classes[lb]), font, font_scale, thickness)[0][0] for lb in col) + sw + 3 * pad
              for col in cols]
    panel = np.full((height, sum(widths) + pad, 3), 255, dtype=np.uint8)
    x0 = pad
    for col, width in zip(cols, widths):
        for r, lb in enumerate(col):
            y = pad + r * row
            colour = tuple(int(c) for c in palette[lb])
            cv2.rectangle(panel, (x0, y), (x0 + sw, y + sw), colour, -1)
            cv2.rectangle(panel, (x0, y), (x0 + sw, y + sw), (0, 0, 0), 1)
            cv2.putText(panel, str(classes[lb]), (x0 + sw + pad, y + th), font, font_scale, (0, 0, 0), thickness,
                        cv2.LINE_AA)
        x0 += width
    return panel


def draw_overlay(image: np.ndarray, sem_seg: np.ndarray, classes: Sequence[str],
                 palette: Optional[Sequence[Sequence[int]]] = None, alpha: float = 0.5,
                 legend: bool = True, side_by_side: bool = False) -> np.ndarray:
    """RGB overlay of a label map on an RGB image, with a legend of the classes present.

    Args:
        image: ``H×W×3`` RGB uint8.
        sem_seg: ``H×W`` labels (indices into ``classes``; 255 ignored).
        classes: class names.
        palette: RGB colours (default :func:`auto_palette`).
        alpha: overlay opacity.
        legend: append the legend panel on the right.
        side_by_side: put the plain image left of the overlay.
    """
    palette = auto_palette(classes) if palette is None else palette
    colour = colourise(sem_seg, palette)
    over = (image.astype(np.float32) * (1 - alpha) + colour.astype(np.float32) * alpha).astype(np.uint8)
    parts = [image, over] if side_by_side else [over]
    if legend:
        present = [lb for lb in np.unique(sem_seg) if lb < len(classes)]
        parts.append(legend_panel(image.shape[0], present, classes, palette))
    return np.concatenate(parts, axis=1)


@VISUALIZERS.register_module()
class SegLegendVisualizer(SegLocalVisualizer):
    """``SegLocalVisualizer`` whose drawings carry a legend panel (colour swatch + name of each class present).

    Args:
        with_region_labels: also write mmseg's per-region text labels into the overlay (default False: the
            legend names the colours).
        **kwargs: ``SegLocalVisualizer`` arguments (``vis_backends``, ``save_dir``, ``alpha``, …).
    """

    def __init__(self, name: str = 'visualizer', with_region_labels: bool = False, **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.with_region_labels = with_region_labels

    # mmseg's SegVisualizationHook passes ``step=runner.iter`` during testing, which builds the *train* loop of a
    # training config; its __init__ then overwrites the visualiser's meta with the image-caption dataset's (no
    # classes). A meta without classes therefore never replaces one that has them.
    @property
    def dataset_meta(self) -> Optional[dict]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: Optional[dict]) -> None:
        current = getattr(self, '_dataset_meta', None) or {}
        if current.get('classes') and not (meta or {}).get('classes'):
            return
        self._dataset_meta = meta

    def _draw_sem_seg(self, image: np.ndarray, sem_seg, classes: Optional[list], palette: Optional[list],
                      with_labels: Optional[bool] = True) -> np.ndarray:
        data = sem_seg.cpu().data
        data = data.numpy() if torch.is_tensor(data) else np.asarray(data)
        # numpy labels: mmseg indexes its colour mask with ``sem_seg[0] == label``, which for a 1-element tensor is
        # the integer 0/1 (IndexError on a 1×1 image), not a boolean mask
        sem_seg = PixelData(data=data)
        drawn = super()._draw_sem_seg(image, sem_seg, classes, palette, bool(with_labels and self.with_region_labels))
        labels = np.unique(data)
        panel = legend_panel(drawn.shape[0], [lb for lb in labels if lb < len(classes)], classes, palette)
        out = np.concatenate([drawn, panel], axis=1)
        self.set_image(out)
        return out
