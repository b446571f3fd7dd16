"""Training-reliability defaults that ``tools/train.py`` adds to every config (exact resume, non-finite guard).

A hook already listed in ``custom_hooks`` (e.g. with other arguments) is kept as configured; set
``reliability_hooks = False`` in a config to add none.
"""
from __future__ import annotations

from mmengine.config import Config

DEFAULT_HOOKS = (dict(type='ExactResumeHook'), dict(type='NonFiniteGuardHook', max_consecutive=5))


def add_reliability_hooks(cfg: Config) -> None:
    """Append ``ExactResumeHook`` and ``NonFiniteGuardHook`` to ``cfg.custom_hooks`` unless present or disabled."""
    if cfg.get('reliability_hooks', True) is False:
        return
    hooks = list(cfg.get('custom_hooks', None) or [])
    present = {h.get('type') if isinstance(h, dict) else type(h).__name__ for h in hooks}
    for h in DEFAULT_HOOKS:
        if h['type'] not in present:
            hooks.append(dict(h))
    cfg.custom_hooks = hooks
