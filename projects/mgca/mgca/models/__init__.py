from .head import MGCAHead
from .losses import MGCALoss, MGCAObjectLoss, MGCAPixelLoss, MGCARegionLoss
from .mgca import MGCA
from .semantic_unit import MGCASemanticUnit

__all__ = ['MGCA', 'MGCAHead', 'MGCALoss', 'MGCAObjectLoss', 'MGCAPixelLoss', 'MGCARegionLoss', 'MGCASemanticUnit']
