"""MGCA (Liu et al., ECCV 2024) on the mmseg-code plugin.

Importing this package registers (into ``mmseg.registry``): ``MGCA`` (segmentor), ``MGCAHead`` (D_v and the meta-point inference),
``MGCALoss`` (Eq. 8) with ``MGCAObjectLoss`` (Eq. 5), ``MGCARegionLoss`` (Eq. 6), ``MGCAPixelLoss`` (Eq. 7),
``MGCASemanticUnit`` (Sec. 3.3) and the transform ``MGCANounPromptCaption`` (caption augmentation, Sec. 4.1).
Use it from a config with ``custom_imports=dict(imports=['mmseg_code', 'projects.mgca.mgca'])``.
"""
import mmseg_code  # noqa: F401  (the plugin this project builds on)

from .datasets import MGCANounPromptCaption
from .models import (MGCA, MGCAHead, MGCALoss, MGCAObjectLoss, MGCAPixelLoss, MGCARegionLoss,
                     MGCASemanticUnit)

__all__ = [
    'MGCA', 'MGCAHead', 'MGCALoss', 'MGCAObjectLoss', 'MGCARegionLoss', 'MGCAPixelLoss', 'MGCASemanticUnit',
    'MGCANounPromptCaption'
]
