"""Safe checkpoint loading for mmengine under torch>=2.6 (``weights_only=True``).

mmengine 0.10.7 calls ``torch.load(filename, map_location=...)``. Since torch 2.6 that means
``weights_only=True``, which rejects mmengine's own checkpoints: their ``message_hub`` pickles
``HistoryBuffer`` objects (whose statistics methods are pickled as ``getattr(HistoryBuffer, name)``)
and their ``meta`` holds numpy scalars and arrays. Switching torch to unsafe loading would let any
checkpoint run code, so instead the local-file scheme of mmengine's ``CheckpointLoader`` is replaced
by :func:`load_from_local_safe`: still ``weights_only=True``, with an allow-list of exactly the
types mmengine writes and a ``getattr`` that only resolves ``HistoryBuffer`` statistics methods.
Every file that needs anything else fails with one message explaining how to convert a trusted file.
"""
from __future__ import annotations

import os.path as osp
import pickle
from typing import Any, Callable

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.tool import UserError


# ``HistoryBuffer._set_default_statistics`` stores these bound names in every instance's ``__dict__``.
_HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'current', 'mean'})


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """The only ``getattr`` a checkpoint may call: a statistics method of ``HistoryBuffer``."""
    allowed = _HISTORY_BUFFER_METHODS | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'checkpoint asks for getattr({obj!r}, {name!r}), which is not allowed')


def _numpy_globals() -> list:
    multiarray = getattr(np, '_core', None) or np.core  # numpy 2.x: np._core; 1.x: np.core
    dtype_types = {type(np.dtype(code)) for code in np.typecodes['All'] if code not in 'Mm'}
    items = [np.dtype, np.ndarray, multiarray.multiarray._reconstruct, multiarray.multiarray.scalar]
    # numpy 2 pickles arrays with ``numpy._core.multiarray``; files from numpy 1 say ``numpy.core``.
    items += [(multiarray.multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
              (multiarray.multiarray.scalar, 'numpy.core.multiarray.scalar')]
    return items + sorted(dtype_types, key=lambda t: t.__name__)


SAFE_GLOBALS: list = [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] + _numpy_globals()


class UnsafeCheckpointError(UserError, RuntimeError):
    """A checkpoint holds Python objects outside the allow-list of :data:`SAFE_GLOBALS`."""


def safe_torch_load(filename: str, map_location: Any = 'cpu') -> Any:
    """``torch.load(weights_only=True)`` that also accepts what mmengine itself writes."""
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).split('WeightsUnpickler error:')[-1].strip().splitlines()[0]
        raise UnsafeCheckpointError(
            f'{filename}: refused to unpickle ({reason}). mmseg-code loads checkpoints with '
            f'weights_only=True, so a file cannot run code. If you trust this file, convert it once with '
            f'`python tools/model_converters/trust_checkpoint.py {filename} OUT.pth`.') from None


def load_from_local_safe(filename: str, map_location: Any = None) -> Any:
    """Drop-in for mmengine's ``load_from_local`` (scheme ``''``) with safe unpickling."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


def register_safe_loader() -> None:
    """Make mmengine's ``load_checkpoint``/``resume``/``load_from`` use :func:`load_from_local_safe`."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)


# ---------------------------------------------------------------------------------------------- strict key matching
class CheckpointKeyError(UserError, RuntimeError):
    """The checkpoint's parameter names do not match the model (one line listing missing and unexpected keys)."""


_STRICT = {'enabled': True}


def set_strict_loading(enabled: bool) -> None:
    """Strict key matching for the plugin's segmentors (default on; ``load_strict=False`` in a config turns it off)."""
    _STRICT['enabled'] = bool(enabled)


def _short(keys: list, n: int = 5) -> str:
    shown = ', '.join(keys[:n])
    return f'[{shown}{", ..." if len(keys) > n else ""}]'


def check_checkpoint_keys(model, state_dict: dict, source: str = 'checkpoint') -> None:
    """Raise :class:`CheckpointKeyError` when ``state_dict`` misses required or has unexpected keys of ``model``
    (keys of the layout before the encoder-decoder contract count under their new names, as the model loads them;
    the keys a checkpoint may leave out are the model's ``optional_state_dict_prefixes()``)."""
    from mmseg_code.models.segmentors.base import upgrade_state_dict
    own = set(model.state_dict().keys())
    given = set(upgrade_state_dict(dict.fromkeys(state_dict)))
    optional = model.optional_state_dict_prefixes()
    missing = sorted(k for k in own - given if not k.startswith(optional) and 'num_batches_tracked' not in k)
    unexpected = sorted(given - own)
    if missing or unexpected:
        raise CheckpointKeyError(
            f'{source} does not match {type(model).__name__}: {len(missing)} missing key(s) {_short(missing)}, '
            f'{len(unexpected)} unexpected key(s) {_short(unexpected)}. Check the config matches the checkpoint, '
            f'or load anyway with --cfg-options load_strict=False.')


def register_strict_key_check() -> None:
    """Check keys before mmengine's (non-strict by default) ``_load_checkpoint_to_model`` loads a plugin segmentor."""
    import re
    from collections import OrderedDict

    import mmengine.runner.checkpoint as ckpt_mod
    import mmengine.runner.runner as runner_mod
    original = getattr(ckpt_mod._load_checkpoint_to_model, '__wrapped__', ckpt_mod._load_checkpoint_to_model)

    def _load_checkpoint_to_model(model, checkpoint, strict=False, logger=None,
                                  revise_keys=[(r'^module\.', '')]):  # noqa: B006 (mmengine's signature)
        from mmseg_code.models.segmentors.base import TextSupervisedSegmentor
        target = getattr(model, 'module', model)
        if _STRICT['enabled'] and isinstance(target, TextSupervisedSegmentor) and isinstance(checkpoint, dict):
            sd = checkpoint.get('state_dict', checkpoint)
            for p, r in revise_keys:
                sd = OrderedDict((re.sub(p, r, k), v) for k, v in sd.items())
            check_checkpoint_keys(target, sd)
        return original(model, checkpoint, strict, logger, revise_keys)

    _load_checkpoint_to_model.__wrapped__ = original
    ckpt_mod._load_checkpoint_to_model = _load_checkpoint_to_model
    runner_mod._load_checkpoint_to_model = _load_checkpoint_to_model
