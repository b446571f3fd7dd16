"""Config loading shared by the tools: one-line errors for a broken config, ``--cfg-options`` checked before merging."""
import importlib
import os.path as osp
import warnings
from typing import Optional

from mmengine.config import Config

from .tool import UserError, error_message


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile(path)`` + its ``custom_imports`` + ``--cfg-options`` (checked by
    :func:`~mmseg_code.utils.cfg_options.check_cfg_options`, then merged).

    A syntax error, a missing ``_base_`` file or a ``custom_imports`` module that does not exist is one line
    (:class:`UserError`); a module that exists but fails to import keeps its traceback.
    """
    try:
        cfg = Config.fromfile(path, import_custom_modules=False)
    except SyntaxError as e:
        where = f' (line {e.lineno})' if e.lineno and 'line ' not in str(e.msg) else ''
        raise UserError(f'config {path} has a syntax error: {e.msg}{where}') from None
    except FileNotFoundError as e:
        raise UserError(f'config {path}: {error_message(e)}') from None
    _import_custom_modules(cfg, path)
    if cfg_options:
        from .cfg_options import check_cfg_options, check_merged_options
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
        check_merged_options(cfg, cfg_options)
    return cfg


def _import_custom_modules(cfg: Config, path: str) -> None:
    """What ``Config.fromfile`` does with ``custom_imports``, telling a misspelt module name from a broken module."""
    custom = cfg.get('custom_imports', None)
    if not custom:
        return
    imports = custom.get('imports', [])
    for name in [imports] if isinstance(imports, str) else imports:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if not (e.name and (name == e.name or name.startswith(e.name + '.'))):
                raise  # the module exists; something it imports does not
            if custom.get('allow_failed_imports', False):
                warnings.warn(f'{name} failed to import and is ignored.', UserWarning)
                continue
            raise UserError(f'config {path}: custom_imports names {name!r}, which is not importable '
                            f'(no module {e.name!r})') from None


def load_tool_config(config: str, launcher: str, cfg_options: Optional[dict] = None,
                     work_dir: Optional[str] = None) -> Config:
    """Load ``config``, check and merge ``--cfg-options``, set ``launcher`` and ``work_dir``.

    ``work_dir`` priority, as in mmseg: the command line, then the config, then ``./work_dirs/<config name>``.
    """
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg
