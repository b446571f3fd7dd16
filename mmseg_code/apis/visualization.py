"""The overlay renderer of the project: label maps or binary masks blended over an image, with a legend scaled to
the image, and the palettes they use.

* :func:`draw_overlay` — label map(s) (e.g. ground truth and prediction side by side) over an image + legend of the
  classes present (``OVSegInferencer.overlay``, ``tools/demo.py``, ``tools/quickstart.py``,
  ``tools/visualize_code.py``);
* :func:`draw_masks` — possibly overlapping binary masks (TSEG's referring expressions), one colour each, outlined so
  that overlapping masks stay apart, + legend of the mask names;
* :func:`legend_panel` — the legend: a swatch and a name per row, the row height proportional to the image height
  (1/30 of it, at least 14 px), in columns when the rows do not fit;
* ``SegLegendVisualizer`` — a drop-in for mmseg's ``SegLocalVisualizer``
  (``visualizer = dict(type='SegLegendVisualizer', ...)``): ``tools/test.py --show-dir`` and the inferencer write
  ``overlay | legend`` images through the same renderer;
* palettes: :func:`class_palette` (a known dataset's colours, else :func:`auto_palette`).
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


FONT = cv2.FONT_HERSHEY_SIMPLEX


def legend_row_height(image_height: int) -> int:
    """Legend row height for an image ``image_height`` pixels tall: 1/30 of it, at least 14 px."""
    return max(14, int(round(image_height / 30)))


def legend_panel(height: int, labels: Sequence[int], classes: Sequence[str],
                 palette: Sequence[Sequence[int]], row_height: Optional[int] = None) -> np.ndarray:
    """A white ``height×W×3`` RGB panel listing ``labels``: per row a swatch of the class colour (outlined in black)
    and the class name, in columns when they do not fit.

    The row height defaults to :func:`legend_row_height` (``height``); the swatch is a square of 70 % of it and the
    text's cap height about 45 %, so the legend scales with the image.
    """
    row = row_height or legend_row_height(height)
    swatch = max(6, int(round(0.7 * row)))
    pad = max(2, row // 5)
    (_, unit_h), unit_base = cv2.getTextSize('Ag', FONT, 1.0, 1)
    font_scale = 0.6 * row / (unit_h + unit_base)
    thickness = max(1, int(round(font_scale * 1.5)))
    labels = [int(lb) for lb in labels if 0 <= int(lb) < len(classes)]
    if not labels:
        return np.full((height, 1, 3), 255, dtype=np.uint8)
    rows = max(1, (height - pad) // row)
    cols = [labels[i:i + rows] for i in range(0, len(labels), rows)]
    widths = [max(cv2.getTextSize(str(classes[lb]), FONT, font_scale, thickness)[0][0] for lb in col)
              + swatch + 3 * pad for col in cols]
    panel = np.full((height, sum(widths) + pad, 3), 255, dtype=np.uint8)
    x0 = pad
    for col, width in zip(cols, widths):
        for r, lb in enumerate(col):
            y = pad + r * row
            colour = tuple(int(c) for c in palette[lb])
            cv2.rectangle(panel, (x0, y), (x0 + swatch - 1, y + swatch - 1), colour, -1)
            cv2.rectangle(panel, (x0, y), (x0 + swatch - 1, y + swatch - 1), (0, 0, 0), 1)
            (_, th), _ = cv2.getTextSize(str(classes[lb]), FONT, font_scale, thickness)
            cv2.putText(panel, str(classes[lb]), (x0 + swatch + pad, y + (swatch + th) // 2), FONT, font_scale,
                        (0, 0, 0), thickness, cv2.LINE_AA)
        x0 += width
    return panel


def _blend(image: np.ndarray, colour: np.ndarray, where: np.ndarray, alpha: float) -> np.ndarray:
    out = image.astype(np.float32).copy()
    out[where] = (1 - alpha) * out[where] + alpha * colour[where].astype(np.float32)
    return out.round().clip(0, 255).astype(np.uint8)


def _separator(height: int) -> np.ndarray:
    return np.full((height, max(2, height // 100), 3), 255, dtype=np.uint8)


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def draw_overlay(image: np.ndarray, sem_seg, classes: Sequence[str],
                 palette: Optional[Sequence[Sequence[int]]] = None, alpha: float = 0.5,
                 legend: bool = True, side_by_side: bool = False, ignore_index: int = 255) -> np.ndarray:
    """RGB overlay of label map(s) on an RGB image, with a legend of the classes present.

    Args:
        image: ``H×W×3`` RGB uint8 (or grey ``H×W``).
        sem_seg: an ``H×W`` label map (indices into ``classes``), or a list of them drawn side by side (e.g. ground
            truth and prediction); ``ignore_index`` and labels beyond ``classes`` are left unpainted.
        classes: class names.
        palette: RGB colours (default :func:`class_palette`).
        alpha: overlay opacity.
        legend: append the legend panel (:func:`legend_panel`) on the right.
        side_by_side: put the plain image left of the overlay(s).
    """
    image = _rgb(image)
    palette = class_palette(classes) if palette is None else palette
    maps = [np.asarray(m) for m in (sem_seg if isinstance(sem_seg, (list, tuple)) else [sem_seg])]
    parts = [image] if side_by_side else []
    present: list = []
    for labels in maps:
        if labels.shape != image.shape[:2]:
            raise ValueError(f'label map of shape {labels.shape} for an image of shape {image.shape[:2]}')
        valid = (labels != ignore_index) & (labels < len(classes)) & (labels >= 0)
        parts.append(_blend(image, colourise(labels, palette, ignore_index), valid, alpha))
        present += [int(lb) for lb in np.unique(labels[valid]) if int(lb) not in present]
    out = []
    for part in parts:
        out += [part, _separator(image.shape[0])]
    out = out[:-1]
    if legend:
        out.append(legend_panel(image.shape[0], sorted(present), classes, palette))
    return np.concatenate(out, axis=1)


def draw_masks(image: np.ndarray, masks: np.ndarray, names: Sequence[str],
               palette: Optional[Sequence[Sequence[int]]] = None, alpha: float = 0.5,
               legend: bool = True) -> np.ndarray:
    """RGB overlay of (possibly overlapping) binary masks on an RGB image, one colour per mask, with a legend.

    A pixel covered by several masks gets the mean of their colours; every mask is outlined in its own colour
    (width proportional to the image, last mask on top), so that overlapping masks stay apart.

    Args:
        image: ``H×W×3`` RGB uint8 (or grey ``H×W``).
        masks: ``K×H×W`` booleans.
        names: K mask names for the legend (e.g. referring expressions).
        palette: K RGB colours (default :func:`auto_palette` of K masks).
    """
    image = _rgb(image)
    masks = np.asarray(masks).astype(bool)
    if masks.ndim != 3 or masks.shape[1:] != image.shape[:2] or len(names) != len(masks):
        raise ValueError(f'{len(names)} names and masks of shape {masks.shape} for an image of shape '
                         f'{image.shape[:2]}: need K names and K×H×W masks')
    palette = auto_palette([str(k) for k in range(len(masks))]) if palette is None else palette
    colours = np.asarray(palette, np.float32)[:len(masks)]
    count = masks.sum(0)
    mean = np.einsum('khw,kc->hwc', masks.astype(np.float32), colours) / np.maximum(count, 1)[..., None]
    out = _blend(image, mean, count > 0, alpha)
    width = max(1, int(round(image.shape[0] / 150)))
    for mask, colour in zip(masks, colours):
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour), width)
    if not legend:
        return out
    return np.concatenate([out, legend_panel(image.shape[0], range(len(masks)), names, palette)], axis=1)


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
        """:func:`draw_overlay` (overlay + legend); with ``with_region_labels`` mmseg's drawing with its text
        labels, then the legend."""
        data = sem_seg.cpu().data
        data = data.numpy() if torch.is_tensor(data) else np.asarray(data)
        if with_labels and self.with_region_labels:
            # numpy labels: mmseg indexes its colour mask with ``sem_seg[0] == label``, which for a 1-element
            # tensor is the integer 0/1 (IndexError on a 1×1 image), not a boolean mask
            drawn = super()._draw_sem_seg(image, PixelData(data=data), classes, palette, True)
            present = [lb for lb in np.unique(data) if lb < len(classes)]
            out = np.concatenate([drawn, legend_panel(drawn.shape[0], present, classes, palette)], axis=1)
        else:
            out = draw_overlay(image, data[0], classes, palette, alpha=self.alpha)
        self.set_image(out)
        return out
