"""Checkpoint refusals explained in one line (standard library only at import time: the tools load it early).

torch ≥ 2.6 loads with ``weights_only=True``: a file whose pickle names any Python global outside torch's
allow-list is refused with a ``pickle.UnpicklingError`` of several paragraphs. The checkpoints this plugin's runs
write need nothing outside that list (``AtomicCheckpointHook`` stores them so); anything else — a checkpoint of an
older run, one that holds arbitrary objects, a file that would run code — is refused, and the tools say so in one
line: the refused global and the explicit opt-in for files you trust,
``python tools/model_converters/trust_checkpoint.py FILE OUT.pth``.
"""
from __future__ import annotations

import pickle
import re
from typing import Optional

from .tool import UserError

TRUST_TOOL = 'tools/model_converters/trust_checkpoint.py'


class CheckpointKeyError(UserError, RuntimeError):
    """The checkpoint's parameter names do not match the model (one line listing missing and unexpected keys)."""


class UnsafeCheckpointError(UserError, pickle.UnpicklingError):
    """A checkpoint refused by ``weights_only`` loading (one line: the refused global and the opt-in tool)."""


def is_weights_only_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is torch's refusal of a pickle under ``weights_only=True`` (torch 2.4 … 2.14 wordings)."""
    if isinstance(exc, UnsafeCheckpointError):
        return True
    msg = str(exc)
    return isinstance(exc, pickle.UnpicklingError) and ('Weights only load failed' in msg
                                                        or 'WeightsUnpickler error' in msg)


def refused_global(message: str) -> str:
    """What torch refused, from its message: ``posix.system`` for torch 2.14's "Trying to load unsupported GLOBAL
    posix.system whose module posix is blocked" or "Unsupported global: GLOBAL a.b.C was not an allowed global",
    else the first line after older torch's ``WeightsUnpickler error:``, else torch's last explanatory line."""
    found = re.search(r'GLOBAL\s+([\w.]+)', message)
    if found:
        return found.group(1).rstrip('.')
    if 'WeightsUnpickler error:' in message:
        rest = message.split('WeightsUnpickler error:', 1)[1].strip()
        if rest:
            return rest.splitlines()[0].strip()
    lines = [ln.strip() for ln in message.splitlines()
             if ln.strip() and not ln.strip().startswith(('Check the documentation', '(1)', '(2)'))]
    return lines[-1] if lines else 'an object outside the allow-list'


def _loaded_file(exc: BaseException) -> Optional[str]:
    """The file ``torch.load`` was reading when it raised ``exc`` (its ``f`` argument), if it was a path; mmengine's
    registry re-raises build errors as a new exception of the same type, so the chain of causes is searched too."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb, found = exc.__traceback__, None
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_name == 'load' and frame.f_globals.get('__name__') == 'torch.serialization':
                f = frame.f_locals.get('f')
                if isinstance(f, str) or hasattr(f, '__fspath__'):
                    found = str(f)
            tb = tb.tb_next
        if found:
            return found
        exc = exc.__cause__ or exc.__context__
    return None


def refusal_line(exc: BaseException, filename: Optional[str] = None) -> str:
    """One line for a ``weights_only`` refusal: the file, the refused global, the opt-in tool."""
    if isinstance(exc, UnsafeCheckpointError):
        return str(exc)
    filename = _loaded_file(exc) or filename or 'the checkpoint'  # the file torch was reading, if it can tell
    out = 'OUT.pth'
    return (f'{filename}: refused to unpickle {refused_global(str(exc))} (checkpoints load with weights_only=True, so '
            f'a file cannot run code). If you trust this file, convert it once with '
            f'`python {TRUST_TOOL} {filename} {out}`.')


def as_refusal(exc: BaseException, filename: Optional[str] = None) -> UnsafeCheckpointError:
    """``exc`` (a ``weights_only`` refusal) as an :class:`UnsafeCheckpointError` with the one-line message."""
    return UnsafeCheckpointError(refusal_line(exc, filename))
