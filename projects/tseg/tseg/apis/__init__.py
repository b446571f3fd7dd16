from .inferencer import TSEGInferencer

__all__ = ['TSEGInferencer']
