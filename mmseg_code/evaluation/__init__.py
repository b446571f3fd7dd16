"""Metrics of the plugin (registered in mmseg's ``METRICS``)."""
from .metrics import ZeroShotClassAccuracy

__all__ = ['ZeroShotClassAccuracy']
