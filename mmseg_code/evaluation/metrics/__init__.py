from .zero_shot_accuracy import ZeroShotClassAccuracy

__all__ = ['ZeroShotClassAccuracy']
