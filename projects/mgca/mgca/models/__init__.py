from .decoder import MGCADecoder
from .losses import MGCALoss, MGCAObjectLoss, MGCAPixelLoss, MGCARegionLoss
from .mgca import MGCA
from .semantic_unit import MGCASemanticUnit

__all__ = ['MGCA', 'MGCADecoder', 'MGCALoss', 'MGCAObjectLoss', 'MGCAPixelLoss', 'MGCARegionLoss',
           'MGCASemanticUnit']
