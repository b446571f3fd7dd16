"""A checkpoint format that ``torch.load(weights_only=True)`` accepts without any allow-list.

MMEngine's checkpoints pickle ``HistoryBuffer`` objects (``message_hub.log_scalars``) and numpy arrays and scalars
(buffers' histories, metrics, RNG states), which torch ≥ 2.6 refuses to unpickle by default. :func:`to_weights_only`
stores each such value as a small marked dict of tensors and plain Python values; :func:`from_weights_only` turns
the marked dicts back into the same objects. ``AtomicCheckpointHook`` applies them in ``before_save_checkpoint`` and
``after_load_checkpoint``, so MMEngine's own ``torch.load`` (``load_from``, ``--resume``, ``init_model``, the
inferencers) reads the files this plugin's runs write, and nothing in torch or MMEngine needs changing.

What is stored (the marker key is ``'__mmseg_code__'``)::

    np.ndarray    {'__mmseg_code__': 'ndarray', 'dtype': '<f8', 'shape': [..], 'data': uint8 tensor of its bytes}
    np.generic    {'__mmseg_code__': 'numpy_scalar', 'dtype': '<f8', 'data': uint8 tensor of its bytes}
    np.dtype      {'__mmseg_code__': 'numpy_dtype', 'dtype': '<f8'}
    HistoryBuffer {'__mmseg_code__': 'HistoryBuffer', 'log_history': <ndarray>, 'count_history': <ndarray>,
                   'max_length': int}   (statistics methods are the class's, registered ones included)

Tensors, ``None``, ``bool``/``int``/``float``/``complex``/``str``/``bytes``, ``torch.Size``/``dtype``/``device``,
lists, tuples, sets and ``dict``/``OrderedDict`` are kept as they are (other ``dict`` subclasses such as
``ConfigDict`` become plain dicts, named tuples plain tuples). Anything else is kept too, and reported by
:func:`unsupported_paths`: such a checkpoint would be refused on loading.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

MARK = '__mmseg_code__'
_PLAIN = (type(None), bool, int, float, complex, str, bytes, torch.Tensor, torch.Size, torch.dtype, torch.device)


def _bytes_tensor(buf: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(buf), dtype=torch.uint8) if buf else torch.zeros(0, dtype=torch.uint8)


def _encode_array(arr: np.ndarray) -> dict:
    if arr.dtype.hasobject:
        return {MARK: 'ndarray_object', 'shape': list(arr.shape), 'data': to_weights_only(arr.ravel().tolist())}
    return {MARK: 'ndarray', 'dtype': arr.dtype.str, 'shape': list(arr.shape),
            'data': _bytes_tensor(np.ascontiguousarray(arr).tobytes())}


def to_weights_only(obj: Any) -> Any:
    """``obj`` with every numpy value and ``HistoryBuffer`` replaced by its marked dict (new containers; tensors are
    not copied)."""
    if isinstance(obj, _PLAIN) and not isinstance(obj, np.generic):   # np.float64 is a float, np.str_ a str
        return obj
    if isinstance(obj, HistoryBuffer):
        log, count = obj.data
        return {MARK: 'HistoryBuffer', 'log_history': _encode_array(np.asarray(log)),
                'count_history': _encode_array(np.asarray(count)), 'max_length': int(obj.max_length)}
    if isinstance(obj, np.ndarray):
        return _encode_array(obj)
    if isinstance(obj, np.generic):
        if obj.dtype.hasobject:
            return to_weights_only(obj.item())
        return {MARK: 'numpy_scalar', 'dtype': obj.dtype.str, 'data': _bytes_tensor(obj.tobytes())}
    if isinstance(obj, np.dtype):
        return {MARK: 'numpy_dtype', 'dtype': obj.str}
    if isinstance(obj, OrderedDict):
        return OrderedDict((k, to_weights_only(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: to_weights_only(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_weights_only(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_weights_only(v) for v in obj)
    if isinstance(obj, (set, frozenset)):
        return type(obj)(to_weights_only(v) for v in obj)
    return obj


def _decode_array(d: dict) -> np.ndarray:
    if d[MARK] == 'ndarray_object':
        flat = from_weights_only(d['data'])
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return arr.reshape(d['shape'])
    return np.frombuffer(d['data'].numpy().tobytes(), dtype=np.dtype(d['dtype'])).reshape(d['shape']).copy()


def _decode_marked(d: dict) -> Any:
    kind = d[MARK]
    if kind in ('ndarray', 'ndarray_object'):
        return _decode_array(d)
    if kind == 'numpy_scalar':
        return np.frombuffer(d['data'].numpy().tobytes(), dtype=np.dtype(d['dtype']))[0]
    if kind == 'numpy_dtype':
        return np.dtype(d['dtype'])
    if kind == 'HistoryBuffer':
        return HistoryBuffer(_decode_array(d['log_history']), _decode_array(d['count_history']),
                             int(d['max_length']))
    return d


def from_weights_only(obj: Any) -> Any:
    """Undo :func:`to_weights_only`. Dicts and lists are updated in place (a hook that kept a reference to a part
    of the loaded checkpoint sees the restored values); a marked dict is returned as the object it stands for."""
    if isinstance(obj, dict):
        if isinstance(obj.get(MARK), str):
            return _decode_marked(obj)
        for k, v in obj.items():
            obj[k] = from_weights_only(v)
        return obj
    if isinstance(obj, list):
        obj[:] = [from_weights_only(v) for v in obj]
        return obj
    if isinstance(obj, tuple) and not hasattr(obj, '_fields'):
        return tuple(from_weights_only(v) for v in obj)
    return obj


def unsupported_paths(obj: Any, path: str = '', limit: int = 5) -> List[str]:
    """Where ``obj`` (after :func:`to_weights_only`) holds values ``weights_only`` loading refuses:
    ``['meta.dataset_meta.x (Foo)', ...]`` (at most ``limit``)."""
    found: List[str] = []

    def walk(o: Any, p: str) -> None:
        if len(found) >= limit or isinstance(o, _PLAIN) and not isinstance(o, np.generic):
            return
        if type(o) in (dict, OrderedDict):
            for k, v in o.items():
                walk(k, f'{p}[key]')
                walk(v, f'{p}.{k}' if p else str(k))
        elif type(o) in (list, tuple, set, frozenset):
            for i, v in enumerate(o):
                walk(v, f'{p}[{i}]')
        else:
            found.append(f'{p or "<root>"} ({type(o).__module__}.{type(o).__qualname__})')

    walk(obj, path)
    return found
