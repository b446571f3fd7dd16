"""Image-text transforms: decode -> augment -> clean caption -> select nouns -> tokenize with noun spans -> pack."""
from .augment import RandomResizedCrop
from .caption import CleanCaption
from .decode import DecodeImageBytes
from .nouns import SelectNouns
from .pack import PackImageTextInputs
from .timm_augment import TimmRandAugment, TimmRandomErasing
from .tokenize import TokenizeCaptionWithNouns

__all__ = ['DecodeImageBytes', 'RandomResizedCrop', 'CleanCaption', 'SelectNouns', 'TokenizeCaptionWithNouns',
           'PackImageTextInputs', 'TimmRandAugment', 'TimmRandomErasing']
