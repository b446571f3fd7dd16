# Every module in this folder is imported (and so registered) automatically.
from mmseg_code.utils.imports import import_submodules

import_submodules(__name__, __path__)
