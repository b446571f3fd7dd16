"""What every command-line tool shares: the repository, paths given from anywhere, and one-line errors.

Standard library only at import time: each tool loads this file by path (``_tool_helper()``, a few lines at its top)
before the package import, which takes seconds, so that a wrong path or a misspelt argument fails in about a second;
the package's own ``import mmseg_code.utils.tool`` later finds the same module in ``sys.modules``::

    tool = _tool_helper()
    ROOT = tool.setup_repo(__file__)           # this checkout on sys.path: mmseg_code and projects/* import anywhere
    config = tool.resolve_path(args.config, ROOT, 'config')

* **Paths.** A config, checkpoint or other input given relative is looked up in the current directory first, then
  in the repository (the checkout holding ``tools/``, ``configs/`` and ``mmseg_code/``), so the README's commands,
  written from the repository root, work verbatim from any directory. Outputs stay relative to the current directory.
* **Errors.** :func:`run_tool` runs a tool's ``main``: bad user input ends with one line on stderr
  (``<tool>: error: ...``) and exit status 2, with no traceback; ``--debug`` (every tool has it) or
  ``MMSEG_CODE_DEBUG=1`` shows the traceback. User input errors are :class:`UserError` (and its subclasses in the
  plugin: ``ConfigError``, ``OptionError``, ``VocabularyError``, ``CheckpointKeyError``, ``UnsafeCheckpointError``),
  paths that do not exist or cannot be written (``FileNotFoundError``, ``PermissionError``, ...) and unknown registry types.
  Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import os
import os.path as osp
import sys
from typing import Callable, Optional, Sequence

DEBUG_ENV = 'MMSEG_CODE_DEBUG'
EXIT_USER_ERROR = 2  # as argparse's usage errors

_PATH_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


class UserError(Exception):
    """Bad user input (argument, path, config value): the message is one line saying what is wrong and what to do."""


# ----------------------------------------------------------------------------------------------------------- repository
def find_repo_root(start: str) -> Optional[str]:
    """The nearest directory at or above ``start`` holding ``tools/``, ``configs/`` and ``mmseg_code/`` (the checkout;
    ``projects/tseg`` has the first two too); None if there is none."""
    path = osp.abspath(start if osp.isdir(start) else osp.dirname(start))
    while True:
        if all(osp.isdir(osp.join(path, d)) for d in ('tools', 'configs', 'mmseg_code')):
            return path
        parent = osp.dirname(path)
        if parent == path:
            return None
        path = parent


def setup_repo(tool_file: str) -> str:
    """Put the repository holding ``tool_file`` on ``sys.path`` (``custom_imports=['projects.mgca.mgca']`` then
    imports from any working directory) and return its path."""
    root = find_repo_root(tool_file)
    if root is None:
        raise RuntimeError(f'{tool_file} is not inside a checkout of mmseg-code (no tools/, configs/ and mmseg_code/ '
                           'above it)')
    if root not in sys.path:
        sys.path.append(root)
    return root


def resolve_path(path: str, root: Optional[str], what: str = 'file', kind: str = 'file') -> str:
    """``path`` as given if it exists (relative to the current directory), else relative to the repository ``root``.

    ``kind``: ``'file'``, ``'dir'`` or ``'any'``. Raises :class:`UserError` naming both places looked at.
    """
    expanded = osp.expanduser(path)
    candidates = [expanded]
    if root is not None and not osp.isabs(expanded):
        candidates.append(osp.join(root, expanded))
    for cand in candidates:
        if osp.exists(cand):
            if kind == 'file' and osp.isdir(cand):
                raise UserError(f'{what} {path} is a directory, not a file')
            if kind == 'dir' and not osp.isdir(cand):
                raise UserError(f'{what} {path} is not a directory')
            return cand
    where = ' or '.join(dict.fromkeys(osp.dirname(osp.abspath(c)) for c in candidates))
    raise UserError(f'{what} not found: {path} (looked in {where})')


def resolve_checkpoint(path: str, root: Optional[str], what: str = 'checkpoint') -> Optional[str]:
    """``None`` for ``none`` (the weights the config builds), else the existing file (see :func:`resolve_path`)."""
    if path is None or path.lower() == 'none':
        return None
    return resolve_path(path, root, what)


def ensure_writable_dir(path: str, what: str = '--work-dir') -> str:
    """Create ``path`` (with parents) if needed and check a file can be written in it; one line if not."""
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        raise UserError(f'cannot use {what} {path}: it exists and is not a directory') from None
    except OSError as e:
        raise UserError(f'cannot create {what} {path}: {e.strerror}') from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f'cannot write to {what} {path}: permission denied')
    return path


def check_output_file(path: str, what: str = '--out') -> str:
    """An output file can be written: its directory exists (or is created) and is writable, it is not a directory."""
    if osp.isdir(path):
        raise UserError(f'{what} {path} is a directory; give a file name')
    ensure_writable_dir(osp.dirname(osp.abspath(path)), f'the directory of {what}')
    if osp.exists(path) and not os.access(path, os.W_OK):
        raise UserError(f'cannot write {what} {path}: permission denied')
    return path


def read_image(path: str, root: Optional[str] = None, what: str = 'image'):
    """Decode an image as ``mmcv.imread`` does (OpenCV, BGR, EXIF orientation applied), with one-line errors.

    "not found" only when the file does not exist; a file OpenCV cannot decode (empty, not an image, truncated) gives
    ``cannot decode image: PATH (reason)``. Imports OpenCV and numpy, not torch.
    """
    import io

    import cv2
    import numpy as np
    found = resolve_path(path, root, what)
    try:
        with open(found, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise UserError(f'cannot read {what} {path}: {e.strerror}') from None
    if not data:
        raise UserError(f'cannot decode {what}: {path} (empty file)')
    img = _opencv_decode(cv2, np.frombuffer(data, np.uint8))
    reason = _pillow_decode_error(io.BytesIO(data))
    if img is None or (reason is not None and 'truncated' in reason.lower()):
        raise UserError(f'cannot decode {what}: {path} ({reason or "OpenCV cannot decode this file"})')
    return img


def _opencv_decode(cv2, buf):
    """``cv2.imdecode(buf, IMREAD_COLOR)`` (what ``mmcv.imread`` does) without OpenCV's own log lines on stderr."""
    log = getattr(getattr(cv2, 'utils', None), 'logging', None)
    level = log.getLogLevel() if log is not None else None
    if log is not None:
        log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    finally:
        if log is not None:
            log.setLogLevel(level)


def _pillow_decode_error(stream) -> Optional[str]:
    """Why Pillow cannot decode ``stream`` (None if it can): names truncation, which OpenCV does not report."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(stream) as im:
            im.load()
    except UnidentifiedImageError:
        return 'not an image file'
    except (OSError, SyntaxError, ValueError) as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


# --------------------------------------------------------------------------------------------------------------- errors
def add_debug_arg(parser) -> None:
    parser.add_argument('--debug', action='store_true',
                        help=f'show the full traceback of an error (also: {DEBUG_ENV}=1)')


def add_cfg_options_arg(parser, help: str = 'override settings of the config') -> None:
    """``--cfg-options k=v ...`` (MMEngine's ``DictAction``); a malformed pair is a usage error, not a traceback."""
    from mmengine.config import DictAction  # light: no torch

    class CfgOptionsAction(DictAction):

        def __call__(self, parser, namespace, values, option_string=None):
            for kv in values or []:
                if '=' not in kv or not kv.split('=', 1)[0]:
                    parser.error(f'{option_string} takes key=value pairs, got {kv!r}')
            try:
                super().__call__(parser, namespace, values, option_string)
            except AssertionError as e:  # DictAction: imbalanced brackets
                parser.error(f'{option_string}: {e}')

    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, metavar='KEY=VALUE',
                        help=f'{help}: key=value pairs (lists as key="[a,b]", no white space); a key must exist in '
                        'the config or be an argument of the class it configures (did-you-mean otherwise)')


def debug_requested(argv: Optional[Sequence[str]] = None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return '--debug' in argv or os.environ.get(DEBUG_ENV, '').strip().lower() not in ('', '0', 'false', 'no')


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` reports bad user input (one line) rather than a bug (traceback)."""
    if isinstance(exc, (UserError, ) + _PATH_ERRORS):
        return True
    msg = error_message(exc)
    if isinstance(exc, KeyError) and ' is not in the ' in msg and ' registry' in msg:
        return True  # mmengine: `type` names nothing registered
    if isinstance(exc, SyntaxError) and msg.startswith('There are syntax errors in config file'):
        return True  # mmengine's own check of a config (load_config reports the others)
    return False


def error_message(exc: BaseException) -> str:
    """The exception's message on one line (KeyError's quotes removed)."""
    msg = exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1 else str(exc)
    msg = ' '.join(str(msg).split())
    return msg or type(exc).__name__


def run_tool(main: Callable[[Optional[Sequence[str]]], Optional[int]], argv: Optional[Sequence[str]] = None) -> int:
    """Run ``main(argv)`` and return its exit status; a user error becomes one line on stderr and status 2.

    With ``--debug`` in the arguments or ``MMSEG_CODE_DEBUG=1``, the exception propagates (full traceback).
    """
    try:
        return int(main(argv) or 0)
    except Exception as exc:  # noqa: BLE001 (sorted below: user errors get one line, the rest re-raised)
        if debug_requested(argv) or not is_user_error(exc):
            raise
        prog = osp.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'mmseg-code'
        print(f'{prog}: error: {error_message(exc)}', file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
