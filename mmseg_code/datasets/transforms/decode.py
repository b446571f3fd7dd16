"""Decode image bytes into an RGB picture stored BGR, as mmseg's ``LoadImageFromFile`` stores images."""
import io
import warnings
from typing import Dict, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS
from PIL import Image

from ..skip import IMAGE_TOO_SMALL, UNDECODABLE_IMAGE, SkipSample


def to_rgb(img: Image.Image, background: Sequence[int] = (255, 255, 255)) -> Image.Image:
    """Convert any PIL mode to RGB: palette (with transparency), alpha (composited on ``background``), gray, 16-bit
    and float gray (rescaled), CMYK, YCbCr, LAB."""
    if img.mode == 'P':
        img = img.convert('RGBA' if 'transparency' in img.info else 'RGB')
    if img.mode in ('I;16', 'I;16B', 'I;16L', 'I', 'F'):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(arr.round().astype(np.uint8), mode='L')
    if img.mode in ('RGBA', 'LA', 'RGBa', 'La', 'PA'):
        rgba = img.convert('RGBA')
        canvas = Image.new('RGBA', rgba.size, tuple(int(c) for c in background) + (255,))
        img = Image.alpha_composite(canvas, rgba)
    return img.convert('RGB') if img.mode != 'RGB' else img


@TRANSFORMS.register_module()
class DecodeImageBytes(BaseTransform):
    """Decode ``results['img_bytes']`` (jpg/png/webp/...) with PIL and convert it to RGB.

    Output: ``img`` uint8 array (H, W, 3) in **BGR** channel order (like ``LoadImageFromFile``, so the same
    ``SegDataPreProcessor(bgr_to_rgb=True)`` serves training and evaluation), ``img_shape`` = ``ori_shape`` = (H, W).
    ``img_bytes`` is dropped.

    Raises ``SkipSample('undecodable_image')`` for bytes PIL cannot decode (including truncated files and
    decompression bombs) and ``SkipSample('image_too_small')`` when a side is shorter than ``min_size``.

    Args:
        min_size: smallest accepted height/width in pixels (1x1 placeholders of failed downloads are rejected).
        alpha_background: RGB colour transparent pixels are composited on.
        draft_size: if given, JPEGs are decoded at the smallest DCT scale whose both sides stay >= this (fast).
    """

    def __init__(self, min_size: int = 8, alpha_background: Sequence[int] = (255, 255, 255),
                 draft_size: Optional[int] = None) -> None:
        self.min_size = int(min_size)
        self.alpha_background = tuple(int(c) for c in alpha_background)
        self.draft_size = draft_size

    def transform(self, results: Dict) -> Dict:
        data = results.pop('img_bytes')
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('error', Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data))
                if self.draft_size and img.format == 'JPEG':
                    img.draft('RGB', (self.draft_size, self.draft_size))
                img.load()
                img = to_rgb(img, self.alpha_background)
        except Exception as e:  # noqa: BLE001 -- PIL raises many types for bad bytes
            raise SkipSample(UNDECODABLE_IMAGE, f'{results.get("key")}: {type(e).__name__}: {e}') from None
        if min(img.size) < self.min_size:
            raise SkipSample(IMAGE_TOO_SMALL, f'{results.get("key")}: {img.size[0]}x{img.size[1]}')
        rgb = np.asarray(img, dtype=np.uint8)
        results['img'] = np.ascontiguousarray(rgb[..., ::-1])
        results['img_shape'] = rgb.shape[:2]
        results['ori_shape'] = rgb.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_size={self.min_size}, alpha_background={self.alpha_background}, '
                f'draft_size={self.draft_size})')
