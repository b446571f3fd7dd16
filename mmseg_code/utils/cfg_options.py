"""``--cfg-options`` checked against the loaded config before anything is built: a misspelt key or a value of the wrong
kind is one line with a did-you-mean, not a failure minutes (and hundreds of log lines) into the run.

For each ``a.b.c=v``, the path is walked in the config as loaded (before merging):

* **The key exists.** A new scalar must be of the same kind as the current one (number, true/false, string; ``None``
  and lists/dicts replace anything, and anything replaces ``None``). A new ``type`` must be registered in the
  registry that holds the current one.
* **The key is new.** Let D be the deepest existing dict on the path and ``k`` the first missing name. ``k`` is
  accepted when

  - D has a ``type``: ``k`` is an ``__init__`` argument of that registered class, looked up through its bases while
    ``**kwargs`` is forwarded (``optim_wrapper`` also takes ``constructor`` and ``paramwise_cfg``);
  - D is the config itself: ``k`` is an argument of MMEngine's ``Runner`` (or of ``runner_type``) or a top-level key
    the plugin's tools read (:data:`TOP_LEVEL_KEYS`);
  - D is a ``*_dataloader``: ``k`` is an argument of ``torch.utils.data.DataLoader`` (or ``num_batch_per_epoch``);
  - D is a dict argument of a class that lists its keys, as a class attribute ``<ARG>_KEYS`` (names) or
    ``DEFAULT_<ARG>`` / ``default_<arg>`` (names and defaults), e.g. a segmentor's ``test_cfg`` or the optim-wrapper constructor's
    ``paramwise_cfg``: ``k`` is one of them (and a value must match the default's kind);
  - D holds only components with a ``type`` (e.g. ``default_hooks``): a new entry brings its own ``type``.

  **Free-form dicts** — any other dict without a ``type`` (``env_cfg``, ``data_prefix``, ``model.train_cfg``, a
  ``test_cfg`` whose class lists no keys, ...) — accept any key: nothing says which keys their reader takes.
  A list index must exist.

After merging (:func:`check_merged_options`), a class with a ``check_<arg>(value)`` class/static method (e.g. a
segmentor's ``check_test_cfg``) validates each dict argument an option changed, so a value the model would reject
fails before the run starts; its ``ValueError`` becomes one line naming the option.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Optional

from .tool import UserError

#: top-level keys read by the plugin and its tools (beyond ``Runner``'s arguments)
TOP_LEVEL_KEYS = ('runner_type', 'custom_imports', 'load_strict', 'reliability_hooks', 'tta_model', 'tta_pipeline',
                  'benchmark', 'benchmark_protocol')
#: keys ``mmengine.optim.build_optim_wrapper`` takes out of ``optim_wrapper`` before building its ``type``
OPTIM_WRAPPER_KEYS = ('constructor', 'paramwise_cfg', 'optimizer')
_MISSING = object()


def check_cfg_options(cfg, options: Optional[dict]) -> None:
    """Raise :class:`UserError` (one line) for the first option of ``options`` that ``cfg`` would not accept."""
    for key, value in (options or {}).items():
        _check_option(cfg, str(key), value)


def check_merged_options(cfg, options: Optional[dict]) -> None:
    """Run the ``check_<arg>`` validators of the classes whose dict arguments ``options`` changed (merged ``cfg``)."""
    for key in (options or {}):
        parts = str(key).split('.')
        node: Any = cfg._cfg_dict if hasattr(cfg, '_cfg_dict') else cfg
        for part in parts[:-1]:
            child = (node.get(part) if isinstance(node, dict) else
                     node[int(part)] if isinstance(node, (list, tuple)) and part.isdigit() else None)
            if isinstance(node, dict) and 'type' in node and isinstance(child, dict):
                check = getattr(_type_class(node['type']), f'check_{part}', None)
                if callable(check):
                    try:
                        check(child)
                    except (UserError, ValueError, TypeError, KeyError) as e:
                        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
                        raise UserError(f'--cfg-options {key}: {msg}') from None
            node = child


# ----------------------------------------------------------------------------------------------------------- lookups
def _registries() -> list:
    import mmseg.registry as reg
    from mmengine.registry import Registry
    return [getattr(reg, name) for name in reg.__all__ if isinstance(getattr(reg, name), Registry)]


def _lookup(name: str) -> list[tuple[Any, Any]]:
    """(registry, object) for every registry of mmseg (with its MMEngine parents) where ``name`` is registered."""
    return [(r, obj) for r in _registries() for obj in [_safe_get(r, name)] if obj is not None]


def _type_class(type_value: Any) -> Optional[Any]:
    """The class (or function) a ``type`` names, when the name is registered for exactly one object."""
    if not isinstance(type_value, str):
        return type_value if callable(type_value) else None
    objects = {id(o): o for _, o in _lookup(type_value)}
    return next(iter(objects.values())) if len(objects) == 1 else None


def _registered_names(registry) -> set:
    names = set()
    while registry is not None:
        names |= set(registry.module_dict)
        registry = registry.parent
    return names


def init_arguments(obj: Any) -> Optional[set]:
    """Keyword names ``obj(...)`` accepts: its ``__init__`` arguments and, while ``**kwargs`` is forwarded, those of
    its bases (``torch.nn.Module`` and ``object`` take none). None when they cannot be told."""
    def own(func) -> Optional[tuple[set, bool]]:
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            return None
        names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        return names - {'self'}, any(p.kind is p.VAR_KEYWORD for p in params)

    if not isinstance(obj, type):
        got = own(obj) if callable(obj) else None
        return None if got is None or got[1] else got[0]
    names: set = set()
    for klass in obj.__mro__:
        if klass is object or (klass.__module__, klass.__name__) == ('torch.nn.modules.module', 'Module'):
            return names
        if '__init__' not in vars(klass):
            continue
        got = own(vars(klass)['__init__'])
        if got is None:
            return None
        names |= got[0]
        if not got[1]:
            return names
    return names


def _listed_keys(owner: Any, arg: str) -> Optional[dict]:
    """Keys (with defaults, or ``_MISSING``) that class ``owner`` lists for its dict argument ``arg``."""
    if owner is None:
        return None
    for attr in (f'{arg.upper()}_KEYS', f'DEFAULT_{arg.upper()}', f'default_{arg}'):
        listed = getattr(owner, attr, None)
        if isinstance(listed, dict):
            return dict(listed)
        if isinstance(listed, (list, tuple, set, frozenset)):
            return {k: _MISSING for k in listed}
    return None


def _runner_class(root: dict) -> Any:
    from mmengine.runner import Runner
    runner_type = root.get('runner_type', None)
    if runner_type is None:
        return Runner
    from mmseg.registry import RUNNERS
    return runner_type if isinstance(runner_type, type) else RUNNERS.get(runner_type)


def _did_you_mean(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, sorted(str(c) for c in candidates), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ''


def _kind(value: Any) -> Optional[str]:
    if isinstance(value, bool):
        return 'true/false'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, str):
        return 'a string'
    return None  # None, containers, objects: not compared


def _check_kind(option: str, value: Any, current: Any, what: str) -> None:
    want, got = _kind(current), _kind(value)
    if want is not None and got is not None and want != got:
        raise UserError(f'--cfg-options {option}={value!r}: expects {want} ({what} {current!r}), got {got}')


# ------------------------------------------------------------------------------------------------------------- checks
def _owner_of_dict_arg(parents: list, name: str) -> Any:
    """The class that reads the typeless dict ``name`` found in ``parents[-1]``: the parent's ``type``, or for
    ``optim_wrapper.paramwise_cfg`` the optim-wrapper constructor."""
    parent = parents[-1] if parents else None
    if not isinstance(parent, dict):
        return None
    if name == 'paramwise_cfg' and 'optimizer' in parent:
        from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS
        ctor = parent.get('constructor', 'DefaultOptimWrapperConstructor')
        return ctor if isinstance(ctor, type) else OPTIM_WRAPPER_CONSTRUCTORS.get(ctor)
    return _type_class(parent.get('type')) if 'type' in parent else None


class _Accepts:
    """What a dict accepts as a new key: ``keys`` (name -> default or ``_MISSING``; None: anything) and its name."""

    def __init__(self, keys: Optional[dict] = None, what: str = '', components: bool = False) -> None:
        self.keys, self.what, self.components = keys, what, components


def _accepted(path: list, node: dict, parents: list) -> _Accepts:
    if 'type' in node:
        cls = _type_class(node['type'])
        names = init_arguments(cls) if cls is not None else None
        if names is None:
            return _Accepts()
        if path[-1:] == ['optim_wrapper'] or 'optimizer' in node:
            names |= set(OPTIM_WRAPPER_KEYS)
        return _Accepts({n: _defaults(cls).get(n, _MISSING) for n in names},
                        getattr(cls, '__name__', str(node['type'])))
    if not path:
        names = init_arguments(_runner_class(node)) or set()
        return _Accepts({n: _MISSING for n in names | set(TOP_LEVEL_KEYS)}, 'the config (top level)')
    if len(path) == 1 and path[0].endswith('_dataloader'):
        from torch.utils.data import DataLoader
        names = init_arguments(DataLoader) | {'num_batch_per_epoch'}
        return _Accepts({n: _MISSING for n in names}, f'{path[0]} (a DataLoader)')
    owner = _owner_of_dict_arg(parents, path[-1])
    listed = _listed_keys(owner, path[-1])
    if listed is not None:
        return _Accepts(listed, f"{owner.__name__}'s {path[-1]}")
    values = list(node.values())
    if values and all(isinstance(v, dict) and 'type' in v for v in values):
        return _Accepts({}, '.'.join(path), components=True)
    return _Accepts()  # free-form


def _defaults(cls: Any) -> dict:
    """Default values of the ``__init__`` arguments of ``cls`` and its bases (the most derived wins)."""
    defaults: dict = {}
    for klass in reversed(getattr(cls, '__mro__', ())):
        init = vars(klass).get('__init__')
        try:
            params = inspect.signature(init).parameters.values() if init is not None else ()
        except (TypeError, ValueError):
            params = ()
        defaults.update({p.name: p.default for p in params if p.default is not p.empty})
    return defaults


def _check_option(cfg, option: str, value: Any) -> None:
    parts = option.split('.')
    if not all(parts):
        raise UserError(f'--cfg-options {option}: empty name in the key')
    root = cfg._cfg_dict if hasattr(cfg, '_cfg_dict') else cfg
    node: Any = root
    parents: list = []
    for i, part in enumerate(parts):
        here = '.'.join(parts[:i]) or 'the config'
        if isinstance(node, (list, tuple)):
            if not part.isdigit():
                raise UserError(f'--cfg-options {option}: {here} is a list; index it with 0..{len(node) - 1}')
            if int(part) >= len(node):
                raise UserError(f'--cfg-options {option}: {here} has {len(node)} item(s), no index {part}')
            parents.append(node)
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise UserError(f'--cfg-options {option}: {here} is {node!r}, not a dict; set {here}=dict(...) instead')
        if part in node:
            parents.append(node)
            node = node[part]
            continue
        _check_new_key(option, parts[:i], node, parents, part, parts[i + 1:], value)
        return
    # the whole path exists: the value replaces the current one
    current = node
    if parts[-1] == 'type' and isinstance(value, str) and isinstance(parents[-1], dict):
        _check_type_name(option, value, current)
    elif not (isinstance(value, dict) and isinstance(current, dict)):
        _check_kind(option, value, current, 'now')


def _check_new_key(option: str, path: list, node: dict, parents: list, name: str, rest: list, value: Any) -> None:
    accepts = _accepted(path, node, parents)
    if accepts.keys is None:
        return  # free-form dict
    where = '.'.join(path) or 'the config'
    if accepts.components:
        if rest == ['type'] or not rest and isinstance(value, dict) and 'type' in value:
            return  # a new component with its own type
        raise UserError(f'--cfg-options {option}: {where} has no entry {name!r}{_did_you_mean(name, node)} '
                        f'(a new entry needs a type: {where}.{name}=dict(type=...))')
    if name not in accepts.keys:
        candidates = set(accepts.keys) | set(node)
        raise UserError(f'--cfg-options {option}: {accepts.what} has no key {name!r}{_did_you_mean(name, candidates)}')
    if not rest:
        default = accepts.keys[name]
        if default is not _MISSING and not (isinstance(value, dict) and isinstance(default, dict)):
            _check_kind(option, value, default, 'default')
        return
    # a dict argument the config does not set yet: its keys are checked when its reader lists them
    owner = _owner_of_dict_arg(parents + [node], name)
    listed = _listed_keys(owner, name)
    if listed is None:
        return
    if rest[0] not in listed:
        raise UserError(f"--cfg-options {option}: {owner.__name__}'s {name} has no key {rest[0]!r}"
                        f'{_did_you_mean(rest[0], listed)}')
    if len(rest) == 1 and listed[rest[0]] is not _MISSING:
        _check_kind(option, value, listed[rest[0]], 'default')


def _check_type_name(option: str, value: str, current: Any) -> None:
    registries = [r for r, _ in _lookup(current)] if isinstance(current, str) else []
    if not registries:
        registries = _registries()
    if any(_safe_get(r, value) is not None for r in registries):
        return
    names = set().union(*(_registered_names(r) for r in registries))
    where = f'the {registries[0].name} registry' if len(registries) == 1 else 'any registry'
    raise UserError(f'--cfg-options {option}: {value!r} is not in {where}{_did_you_mean(value, names)}')


def _safe_get(registry, name: str) -> Any:
    try:
        return registry.get(name)
    except Exception:  # noqa: BLE001
        return None
