from . import tool
from .config import load_config, load_tool_config
from .imports import import_submodules
from .tool import UserError, run_tool

__all__ = ['import_submodules', 'load_config', 'load_tool_config', 'tool', 'UserError', 'run_tool']
