from .config import load_tool_config
from .imports import import_submodules

__all__ = ['import_submodules', 'load_tool_config']
