"""An optim-wrapper constructor whose log is a summary of the parameter groups, not a line per parameter.

MMEngine's ``DefaultOptimWrapperConstructor`` logs ``paramwise_options -- <name>:<key>=<value>`` at INFO for every
trainable tensor and ``<name> is skipped since its requires_grad=False`` at WARNING for every frozen one: hundreds of
lines at the top of a training log. :class:`SummaryOptimWrapperConstructor` builds exactly the same optimizer, moves
those per-parameter lines to DEBUG (``log_level='DEBUG'`` shows them) and logs one INFO summary::

    optimizer AdamW: 1,234 trainable parameters in 10 tensors, 2 settings; frozen: 5,678 parameters in 20 tensors
      lr=0.001 weight_decay=0.05: 1,000 parameters in 4 tensors (decode_head, text_encoder)
      lr=0.001 weight_decay=0.0: 234 parameters in 6 tensors (decode_head, text_encoder)

Turned on in a config with ``optim_wrapper = dict(constructor='SummaryOptimWrapperConstructor', ...)``.
"""
from __future__ import annotations

import logging
from collections import OrderedDict

import torch.nn as nn
from mmengine.logging import MMLogger, print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

# the lines DefaultOptimWrapperConstructor.add_params writes once per parameter
_PER_PARAMETER = ('paramwise_options -- ', ' is skipped since its requires_grad=False')


class _PerParameterToDebug(logging.Filter):
    """Logger filter: the constructor's per-parameter records go out at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg.startswith(_PER_PARAMETER[0]) or msg.endswith(_PER_PARAMETER[1]):
            record.levelno, record.levelname = logging.DEBUG, 'DEBUG'
        return True


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SummaryOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` (same parameter groups) with a compact log: see the module docstring."""

    #: the ``paramwise_cfg`` keys ``DefaultOptimWrapperConstructor`` reads (checked by ``--cfg-options``)
    PARAMWISE_CFG_KEYS = ('custom_keys', 'bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult', 'dwconv_decay_mult',
                          'flat_decay_mult', 'dcn_offset_lr_mult', 'bypass_duplicate')

    def __call__(self, model: nn.Module) -> OptimWrapper:
        logger = MMLogger.get_current_instance()
        demote = _PerParameterToDebug()
        logger.addFilter(demote)
        try:
            optim_wrapper = super().__call__(model)
        finally:
            logger.removeFilter(demote)
        print_log(summarize_param_groups(getattr(model, 'module', model), optim_wrapper.optimizer), logger='current')
        return optim_wrapper


def _count(n: int, what: str) -> str:
    return f'{n:,} {what}{"" if n == 1 else "s"}'


def summarize_param_groups(model: nn.Module, optimizer) -> str:
    """The optimizer's parameter groups merged by (lr, weight_decay): parameters, tensors, top-level modules."""
    names = {id(p): n for n, p in model.named_parameters()}
    settings: OrderedDict = OrderedDict()
    for group in optimizer.param_groups:
        key = (group.get('lr'), group.get('weight_decay'))
        entry = settings.setdefault(key, dict(tensors=0, numel=0, modules=OrderedDict()))
        for p in group['params']:
            if not p.requires_grad:
                continue
            entry['tensors'] += 1
            entry['numel'] += p.numel()
            entry['modules'][names.get(id(p), '?').split('.')[0]] = None
    settings = OrderedDict((k, v) for k, v in settings.items() if v['tensors'])
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = [p for p in model.parameters() if not p.requires_grad]
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g['params']}
    left_out = [p for p in trainable if id(p) not in in_optimizer]
    head = (f'optimizer {type(optimizer).__name__}: {_count(sum(p.numel() for p in trainable), "trainable parameter")} '
            f'in {_count(len(trainable), "tensor")}, {_count(len(settings), "setting")}; frozen: '
            f'{_count(sum(p.numel() for p in frozen), "parameter")} in {_count(len(frozen), "tensor")}')
    if left_out:
        head += f'; trainable but not optimized: {_count(len(left_out), "tensor")}'
    lines = [head]
    for (lr, wd), entry in settings.items():
        modules = list(entry['modules'])
        shown = ', '.join(modules[:4]) + (', ...' if len(modules) > 4 else '')
        setting = f'lr={lr:g}' + (f' weight_decay={wd:g}' if wd is not None else '')
        lines.append(f'  {setting}: {_count(entry["numel"], "parameter")} in {_count(entry["tensors"], "tensor")} '
                     f'({shown})')
    return '\n'.join(lines)
