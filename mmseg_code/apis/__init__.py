"""Open-vocabulary inference: ``OVSegInferencer``, ``init_segmentor``, overlays with a legend."""
from .inferencer import OVSegInferencer, init_segmentor, parse_vocabulary, prepare_config
from .visualization import SegLegendVisualizer, auto_palette, draw_overlay, legend_panel

__all__ = ['OVSegInferencer', 'init_segmentor', 'parse_vocabulary', 'prepare_config', 'SegLegendVisualizer',
           'auto_palette', 'draw_overlay', 'legend_panel']
