"""Training-reliability defaults that ``tools/train.py`` adds to every config (exact resume, non-finite guard).

A hook already listed in ``custom_hooks`` (e.g. with other arguments) is kept as configured; set
``reliability_hooks = False`` in a config to add none.
"""
from __future__ import annotations

from mmengine.config import Config

from mmseg_code.utils.tool import UserError

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


class ConfigError(UserError, ValueError):
    """A training config that cannot work; the message is one line naming the setting to change."""


def _model_class(model_cfg):
    from mmseg.registry import MODELS
    kind = model_cfg.get('type') if hasattr(model_cfg, 'get') else None
    return MODELS.get(kind) if isinstance(kind, str) else kind if isinstance(kind, type) else None


def check_train_config(cfg: Config, world_size: int = None) -> None:
    """Fail early, with one line, on training settings that cannot work for the plugin's contrastive models.

    * TCL/CoDe (any ``TCL`` subclass) contrast each image with the other captions of the global batch: the global
      batch ``train_dataloader.batch_size × world size`` must be at least 2.
    * CoDe's J (``num_nouns`` of ``SelectNouns`` in the training pipeline) must be at least 1.
    """
    import os
    from mmseg_code.models.segmentors.tcl import TCL
    model_cls = _model_class(cfg.get('model', {}))
    loader = cfg.get('train_dataloader', None) or {}
    if world_size is None:
        world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if model_cls is not None and isinstance(model_cls, type) and issubclass(model_cls, TCL):
        bs = loader.get('batch_size', None)
        if bs is not None and int(bs) * int(world_size) < 2:
            raise ConfigError(f'{model_cls.__name__} needs a global batch of at least 2 for its contrastive loss '
                              f'(train_dataloader.batch_size={bs} x {world_size} process(es)); raise '
                              f'train_dataloader.batch_size.')
    pipeline = (loader.get('dataset', None) or {}).get('pipeline', None) or []
    for t in pipeline:
        if isinstance(t, dict) and t.get('type') == 'SelectNouns' and int(t.get('num_nouns', 2)) < 1:
            raise ConfigError(f'SelectNouns num_nouns (J) must be at least 1, got {t.get("num_nouns")} '
                              f'(train_dataloader.dataset.pipeline).')
