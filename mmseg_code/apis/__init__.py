"""Open-vocabulary inference: ``OVSegInferencer``, ``init_segmentor``, overlays with a legend."""
from .inferencer import OVSegInferencer, init_segmentor, prepare_config
from .visualization import SegLegendVisualizer, auto_palette, class_palette, draw_overlay, legend_panel

__all__ = ['OVSegInferencer', 'init_segmentor', 'prepare_config', 'SegLegendVisualizer', 'auto_palette',
           'class_palette', 'draw_overlay', 'legend_panel']
