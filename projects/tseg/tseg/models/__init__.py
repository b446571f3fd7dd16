"""TSEG model parts: encoders, patch-text similarity (Eq. 1), pooling/MPA (Eqs. 2-8), losses (Sec. 3.3, Eq. 9)."""
from .crf import DenseCRF, MissingCRFError
from .image_encoders import TSEGCLIPImageEncoder, TSEGViTEncoder
from .losses import TSEGDiceLoss, TSEGSoftMarginLoss, batch_targets
from .pooling import MPAPooling, gwp, mpa_masks, size_penalty, spa_masks
from .similarity import PatchTextSimilarity
from .text_encoders import TSEGBertTextEncoder, TSEGCLIPTextEncoder
from .tseg import TSEG

__all__ = ['TSEG', 'DenseCRF', 'MissingCRFError', 'TSEGViTEncoder', 'TSEGCLIPImageEncoder', 'TSEGBertTextEncoder',
           'TSEGCLIPTextEncoder',
           'PatchTextSimilarity', 'MPAPooling', 'TSEGSoftMarginLoss', 'TSEGDiceLoss', 'batch_targets', 'gwp',
           'mpa_masks', 'spa_masks', 'size_penalty']
