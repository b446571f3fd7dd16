"""Pipeline steps for referring segmentation (image + several expressions, one mask per expression)."""
from __future__ import annotations

import re
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.registry import TRANSFORMS
from mmseg.structures import SegDataSample

from .refer_format import decode_segmentation


@TRANSFORMS.register_module()
class SampleReferExpressions(BaseTransform):
    """Training: keep ``num`` expressions of the image (the paper: three positives per image on average).

    Sampling is without replacement over the image's refs first (one sentence of each of ``num`` distinct refs),
    then over the remaining sentences, so the positives cover as many objects as possible.
    """

    def __init__(self, num: int = 3) -> None:
        self.num = int(num)

    def transform(self, results: Dict) -> Dict:
        exprs, refs = list(results['expressions']), list(results['expr_ref'])
        if len(exprs) > self.num:
            order = np.random.permutation(len(exprs))
            first, rest, seen = [], [], set()
            for i in order:
                (rest if refs[i] in seen else first).append(i)
                seen.add(refs[i])
            keep = sorted((first + rest)[:self.num])
            exprs, refs = [exprs[i] for i in keep], [refs[i] for i in keep]
        results['expressions'], results['expr_ref'] = exprs, refs
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num={self.num})'


@TRANSFORMS.register_module()
class SwapLeftRightWords(BaseTransform):
    """After a horizontal flip (``results['flip']`` and direction 'horizontal'), swap left↔right in expressions
    (also leftmost/rightmost) so the text stays true to the flipped image."""

    PAIRS = {'left': 'right', 'right': 'left', 'leftmost': 'rightmost', 'rightmost': 'leftmost'}
    _re = re.compile(r'\b(leftmost|rightmost|left|right)\b', flags=re.IGNORECASE)

    @classmethod
    def swap(cls, text: str) -> str:
        def repl(m):
            w = m.group(0)
            new = cls.PAIRS[w.lower()]
            return new.capitalize() if w[0].isupper() else new
        return cls._re.sub(repl, text)

    def transform(self, results: Dict) -> Dict:
        if results.get('flip') and results.get('flip_direction', 'horizontal') == 'horizontal':
            results['expressions'] = [self.swap(e) for e in results['expressions']]
        return results


@TRANSFORMS.register_module()
class LoadReferMasks(BaseTransform):
    """One binary GT mask per expression at the image's *original* size → ``results['gt_masks']`` (K×H×W uint8).

    Put it after the resize in test pipelines (the metric compares at the original size, predictions are resized
    back), or before geometric transforms with ``seg_field=True`` for full supervision (then added to
    ``seg_fields`` as H×W×K and transformed with the image).
    """

    def __init__(self, seg_field: bool = False) -> None:
        self.seg_field = seg_field

    def transform(self, results: Dict) -> Dict:
        h, w = results.get('ori_shape') or (results['height'], results['width'])
        cache: Dict[int, np.ndarray] = {}
        masks = []
        for k in results['expr_ref']:
            if k not in cache:
                cache[k] = decode_segmentation(results['refs'][k]['segmentation'], h, w, results.get('seg_root', ''))
            masks.append(cache[k])
        arr = np.stack(masks).astype(np.uint8) if masks else np.zeros((0, h, w), np.uint8)
        if self.seg_field:
            results['gt_masks'] = np.ascontiguousarray(arr.transpose(1, 2, 0))
            results['gt_masks_layout'] = 'hwk'
            results.setdefault('seg_fields', []).append('gt_masks')
        else:
            results['gt_masks'] = arr
        return results


@TRANSFORMS.register_module()
class PackReferInputs(BaseTransform):
    """Image → ``inputs`` (3×H×W uint8 tensor); ``SegDataSample`` with the expressions in its metainfo and, when
    loaded, ``gt_masks`` (PixelData K×H×W)."""

    def __init__(self, meta_keys: Sequence[str] = ('img_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor',
                                                   'flip', 'flip_direction', 'expressions', 'expr_ref', 'image_id',
                                                   'split')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = SegDataSample()
        if 'gt_masks' in results:
            m = results['gt_masks']
            if results.get('gt_masks_layout') == 'hwk':
                m = m[..., None] if m.ndim == 2 else m          # cv2 drops a single channel
                m = m.transpose(2, 0, 1)
            sample.gt_masks = PixelData(data=torch.from_numpy(np.ascontiguousarray(m)).bool())
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)


@TRANSFORMS.register_module()
class SegLabelsToExpressions(BaseTransform):
    """Image-level labels as expressions (TSEG Table 1: weakly-supervised PASCAL VOC with the class names encoded by
    the language model): ``results['expressions']`` = the names of the classes present in ``gt_seg_map``.

    Put it right after ``LoadAnnotations``, before any crop, so the labels are those of the whole image (as
    image-level supervision gives them). Pack with ``PackSegInputs(meta_keys=(... , 'expressions'))``.

    Args:
        class_names: name of label ``first_label + k`` at index k (VOC: the 20 objects, ``first_label=1``).
        first_label: label value of ``class_names[0]`` (values below it, e.g. VOC's background 0, are skipped).
        ignore_index: label value that is no class (VOC boundaries: 255).
    """

    def __init__(self, class_names: Sequence[str], first_label: int = 1, ignore_index: int = 255) -> None:
        self.class_names = list(class_names)
        self.first_label = int(first_label)
        self.ignore_index = int(ignore_index)

    def transform(self, results: Dict) -> Dict:
        present = np.unique(results['gt_seg_map'])
        k = [int(v) - self.first_label for v in present
             if int(v) != self.ignore_index and 0 <= int(v) - self.first_label < len(self.class_names)]
        results['expressions'] = [self.class_names[i] for i in sorted(k)]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(classes={len(self.class_names)}, first_label={self.first_label}, '
                f'ignore_index={self.ignore_index})')
