"""TCL's training augmentation (kakaobrain/tcl ``datasets/builder.py``): timm's ``create_transform(224,
is_training=True, color_jitter=0.4, auto_augment='rand-m9-mstd0.5-inc1', re_prob=0.25, re_mode='pixel',
re_count=1)``, as mmcv transforms on the BGR ``img`` of an mmseg pipeline, each running timm's own operator.

timm's train transform is ``RandomResizedCropAndInterpolation(224, scale=(0.08, 1), ratio=(3/4, 4/3), bilinear)`` ->
``RandomHorizontalFlip(0.5)`` -> RandAugment -> ``ToTensor`` -> ``Normalize(ImageNet)`` -> ``RandomErasing``. The
crop and flip are this plugin's ``RandomResizedCrop`` and mmcv's ``RandomFlip``; normalisation is the model's
``SegDataPreProcessor`` (ImageNet mean/std, as TCL). ``color_jitter=0.4`` has no effect there: timm disables colour
jitter whenever RandAugment is on (``transforms_imagenet_train``: ``disable_color_jitter = not (force_color_jitter or
'3a' in auto_augment)``), so no colour-jitter transform is part of the recipe.

* :class:`TimmRandAugment` -- timm's ``rand_augment_transform(config_str, hparams)`` with the hparams
  ``create_transform`` passes (``translate_const = int(0.45 * img_size)``, ``img_mean`` = the ImageNet mean in 0..255,
  bilinear), applied to the image as a PIL RGB picture.
* :class:`TimmRandomErasing` -- timm's ``RandomErasing`` on the *normalised* image (as timm applies it), mapped back
  to pixel values: ``img = erase((img - mean) / std) * std + mean``. The image becomes float32 (the ``'pixel'`` mode
  fills with N(0, 1) values in normalised space, which are outside 0..255), so after the data preprocessor's
  normalisation the network sees exactly timm's erased tensor.

Randomness comes from Python's ``random``, numpy's and torch's global RNGs, which ``ImageTextDataset`` seeds per
sample (exact resume repeats the draws).
"""
from typing import Dict, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _timm_data():
    try:
        import timm.data as td
    except ImportError as e:  # pragma: no cover - timm comes with the install
        raise ImportError('TCL\'s RandAugment/RandomErasing run timm\'s operators: pip install timm') from e
    return td


@TRANSFORMS.register_module()
class TimmRandAugment(BaseTransform):
    """timm RandAugment on ``img`` (H×W×3 uint8, BGR as mmseg stores images).

    Args:
        config_str: timm's RandAugment string (TCL: ``'rand-m9-mstd0.5-inc1'``: 2 ops, magnitude 9 with std 0.5,
            the "increasing" op set).
        img_size: training size; timm's ``translate_const`` is ``int(0.45 * img_size)``.
        mean: RGB mean in 0..1 (fill colour of geometric ops, as timm's ``img_mean``).
        interpolation: PIL interpolation of geometric ops (``create_transform``'s default 'bilinear').
    """

    def __init__(self, config_str: str = 'rand-m9-mstd0.5-inc1', img_size: int = 224,
                 mean: Sequence[float] = IMAGENET_MEAN, interpolation: str = 'bilinear') -> None:
        td = _timm_data()
        from timm.data.transforms import str_to_pil_interp
        self.config_str = config_str
        self.img_size = int(img_size)
        self.mean = tuple(float(m) for m in mean)
        self.interpolation = interpolation
        self.hparams = dict(translate_const=int(self.img_size * 0.45),
                            img_mean=tuple(min(255, round(255 * x)) for x in self.mean),
                            interpolation=str_to_pil_interp(interpolation))
        self.op = td.rand_augment_transform(config_str, dict(self.hparams))

    def transform(self, results: Dict) -> Dict:
        from PIL import Image
        img = results['img']
        pil = Image.fromarray(np.ascontiguousarray(img[..., ::-1]).astype(np.uint8))
        results['img'] = np.ascontiguousarray(np.asarray(self.op(pil), dtype=np.uint8)[..., ::-1])
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(config_str={self.config_str!r}, img_size={self.img_size}, '
                f'mean={self.mean}, interpolation={self.interpolation!r})')


@TRANSFORMS.register_module()
class TimmRandomErasing(BaseTransform):
    """timm ``RandomErasing`` applied in normalised space; ``img`` (H×W×3, BGR) comes back float32 in pixel units.

    Args:
        prob: probability of erasing (TCL: ``re_prob=0.25``).
        mode: timm's fill mode (TCL: ``'pixel'``: per-pixel N(0, 1) values in normalised space).
        max_count: maximum number of erased boxes (TCL: ``re_count=1``).
        mean, std: RGB normalisation in 0..1 (ImageNet, as TCL and the model's data preprocessor).
    """

    def __init__(self, prob: float = 0.25, mode: str = 'pixel', max_count: int = 1,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        _timm_data()
        self.prob = float(prob)
        self.mode = mode
        self.max_count = int(max_count)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        from timm.data.random_erasing import RandomErasing
        self.op = RandomErasing(probability=self.prob, mode=mode, max_count=self.max_count, num_splits=0,
                                   device='cpu')

    def transform(self, results: Dict) -> Dict:
        import torch
        img = results['img']
        mean = np.asarray(self.mean, dtype=np.float32)[::-1] * 255  # BGR order, 0..255
        std = np.asarray(self.std, dtype=np.float32)[::-1] * 255
        x = torch.from_numpy(((img.astype(np.float32) - mean) / std).transpose(2, 0, 1).copy())
        x = self.op(x)
        results['img'] = np.ascontiguousarray(x.numpy().transpose(1, 2, 0) * std + mean, dtype=np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, mode={self.mode!r}, max_count={self.max_count}, '
                f'mean={self.mean}, std={self.std})')
