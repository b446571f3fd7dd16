"""The training augmentation of CoDe's official code: ``RandomResizedCrop(224, scale=(0.9, 1.0))`` (+ a horizontal flip,
for which mmseg's ``RandomFlip`` is used in the configs)."""
import math
from typing import Dict, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


def sample_crop_box(height: int, width: int, scale: Tuple[float, float], ratio: Tuple[float, float],
                    rng=np.random) -> Tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params``: (top, left, h, w) of a crop covering a random fraction
    ``scale`` of the area with a log-uniform aspect ratio in ``ratio``; 10 tries, then a central crop with the
    aspect ratio clamped to ``ratio``."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.randint(0, height - h + 1))
            left = int(rng.randint(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


@TRANSFORMS.register_module()
class RandomResizedCrop(BaseTransform):
    """Crop a random area fraction/aspect ratio of ``img`` and resize it to ``size`` (torchvision semantics).

    Input ``img`` (H, W, C) -> output ``img`` (size_h, size_w, C); ``img_shape`` is updated. Randomness comes from
    numpy's global RNG, which MMEngine seeds per dataloader worker.

    Args:
        size: output (h, w) or one int for a square.
        scale: range of the crop area as a fraction of the image area (CoDe: (0.9, 1.0); torchvision: (0.08, 1.0)).
        ratio: range of the crop aspect ratio w/h.
        interpolation: mmcv interpolation used when enlarging ('bilinear' as torchvision).
        antialias: when shrinking, use 'area' interpolation (close to PIL's antialiased bilinear that torchvision
            uses on PIL images) instead of plain bilinear sampling.
    """

    def __init__(self, size: Union[int, Sequence[int]] = 224, scale: Sequence[float] = (0.9, 1.0),
                 ratio: Sequence[float] = (3 / 4, 4 / 3), interpolation: str = 'bilinear',
                 antialias: bool = True) -> None:
        self.size = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if not (0 < scale[0] <= scale[1] <= 1.0) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f'RandomResizedCrop: need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], '
                             f'got scale={scale}, ratio={ratio}')
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.interpolation = interpolation
        self.antialias = antialias

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        top, left, h, w = sample_crop_box(img.shape[0], img.shape[1], self.scale, self.ratio)
        crop = img[top:top + h, left:left + w]
        shrinking = h > self.size[0] and w > self.size[1]
        interp = 'area' if (self.antialias and shrinking) else self.interpolation
        results['img'] = mmcv.imresize(crop, (self.size[1], self.size[0]), interpolation=interp)
        results['img_shape'] = self.size
        results['crop_box'] = (top, left, h, w)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, scale={self.scale}, ratio={self.ratio}, '
                f'interpolation={self.interpolation!r}, antialias={self.antialias})')
