"""Import every module of a sub-package, so that adding a file is all it takes to register its modules."""
import importlib
import pkgutil
from typing import List


def import_submodules(package_name: str, package_path: List[str]) -> None:
    """Import ``package_name.<module>`` for every module file in ``package_path`` (not recursive)."""
    for info in sorted(pkgutil.iter_modules(package_path), key=lambda i: i.name):
        if not info.name.startswith('_'):
            importlib.import_module(f'{package_name}.{info.name}')
