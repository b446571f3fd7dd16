from .mgca_loss import MGCALoss
from .object_loss import MGCAObjectLoss
from .pixel_loss import MGCAPixelLoss
from .region_loss import MGCARegionLoss

__all__ = ['MGCALoss', 'MGCAObjectLoss', 'MGCARegionLoss', 'MGCAPixelLoss']
