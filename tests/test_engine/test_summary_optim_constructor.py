"""SummaryOptimWrapperConstructor (issue 14, item 8): a training log starts with a compact summary of the trainable
parameter groups; MMEngine's per-parameter ``paramwise_options`` / ``requires_grad=False`` lines go to DEBUG."""
import glob
import io
import logging
import os.path as osp
import uuid

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmseg_code  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PARAMWISE = dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0)


class Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(()))   # 0-d: decayed (flat_decay_mult is for 1-d tensors)
        self.fc = nn.Linear(4, 3)                    # weight 12 decayed, bias 3 not
        self.norm = nn.LayerNorm(3)                  # weight 3, bias 3: not decayed
        self.frozen = nn.Linear(2, 2)                # 4 + 2 parameters, frozen
        self.frozen.requires_grad_(False)


def _capture():
    """A fresh current MMLogger with one INFO and one DEBUG handler writing to strings."""
    logger = MMLogger.get_instance(f'summary_test_{uuid.uuid4().hex}', log_level='DEBUG')
    streams = {}
    for level in (logging.INFO, logging.DEBUG):
        streams[level] = io.StringIO()
        handler = logging.StreamHandler(streams[level])
        handler.setLevel(level)
        logger.addHandler(handler)
    return streams


def _build(model, constructor=None, paramwise=PARAMWISE, lr=1e-3, wd=0.05):
    cfg = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=lr, weight_decay=wd), paramwise_cfg=paramwise)
    if constructor:
        cfg['constructor'] = constructor
    init_default_scope('mmseg')
    return build_optim_wrapper(model, cfg)


def test_summary_at_info_per_parameter_lines_at_debug():
    torch.manual_seed(0)
    model = Net()
    streams = _capture()
    reference = _build(model).optimizer  # MMEngine's constructor: one INFO line per trainable tensor (measured
    info = streams[logging.INFO].getvalue().splitlines()  # 360-460 lines for the ViT-B configs), WARNING per frozen
    assert sum(line.startswith('paramwise_options -- ') for line in info) == 3   # fc.bias, norm.weight, norm.bias
    assert sum('is skipped since its requires_grad=False' in line for line in info) == 2
    streams = _capture()
    wrapper = _build(model, 'SummaryOptimWrapperConstructor')
    info = streams[logging.INFO].getvalue()
    debug = streams[logging.DEBUG].getvalue()
    # by hand: decayed (wd 0.05) gate (1) + fc.weight (12) = 13 in 2 tensors; not decayed fc.bias 3 + norm 3 + 3 = 9
    # in 3 tensors; 22 trainable in 5 tensors; frozen 4 + 2 = 6 in 2 tensors
    assert info == ('optimizer AdamW: 22 trainable parameters in 5 tensors, 2 settings; frozen: 6 parameters in '
                    '2 tensors\n'
                    '  lr=0.001 weight_decay=0.05: 13 parameters in 2 tensors (gate, fc)\n'
                    '  lr=0.001 weight_decay=0: 9 parameters in 3 tensors (fc, norm)\n')
    assert 'paramwise_options -- fc.bias:weight_decay=0.0' in debug
    assert 'frozen.weight is skipped since its requires_grad=False' in debug
    # the same optimizer as MMEngine's constructor builds
    got = [(g['lr'], g['weight_decay'], [id(p) for p in g['params']]) for g in wrapper.optimizer.param_groups]
    want = [(g['lr'], g['weight_decay'], [id(p) for p in g['params']]) for g in reference.param_groups]
    assert got == want


def test_summary_without_paramwise_cfg():
    streams = _capture()
    _build(Net(), 'SummaryOptimWrapperConstructor', paramwise=None, lr=0.1, wd=0.0)
    assert streams[logging.INFO].getvalue() == (
        'optimizer AdamW: 22 trainable parameters in 5 tensors, 1 setting; frozen: 6 parameters in 2 tensors\n'
        '  lr=0.1 weight_decay=0: 22 parameters in 5 tensors (gate, fc, norm)\n')


def test_code_tiny_config_logs_the_summary():
    """The method configs turn it on: CoDe tiny's optimizer log is the summary, with its numbers."""
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'configs/code/code_tiny.py'))
    torch.manual_seed(0)
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    streams = _capture()
    init_default_scope('mmseg')
    build_optim_wrapper(model, cfg.optim_wrapper)
    info = streams[logging.INFO].getvalue().splitlines()
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = [p for p in model.parameters() if not p.requires_grad]
    flat = [p for p in trainable if p.ndim == 1]      # biases and norm weights: weight decay 0 in the config
    other = [p for p in trainable if p.ndim != 1]     # matrices, convolutions, 0-d gates: weight decay 0.05
    n = lambda ps: f'{sum(p.numel() for p in ps):,}'  # noqa: E731
    assert len(info) == 3 and not any('paramwise_options' in line for line in info)
    assert info[0] == (f'optimizer AdamW: {n(trainable)} trainable parameters in {len(trainable)} tensors, 2 settings; '
                       f'frozen: {n(frozen)} parameters in {len(frozen)} tensors')
    settings = sorted(line.split(' (')[0] for line in info[1:])  # the order follows the module traversal
    assert settings == [f'  lr=0.001 weight_decay=0.05: {n(other)} parameters in {len(other)} tensors',
                        f'  lr=0.001 weight_decay=0: {n(flat)} parameters in {len(flat)} tensors']


def test_every_training_config_uses_the_constructor():
    files = sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True) +
                   glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '**', '*.py'), recursive=True))
    checked = []
    for path in files:
        if '_base_' in path:
            continue
        cfg = Config.fromfile(path, import_custom_modules=False)
        wrapper = cfg.get('optim_wrapper', None)
        if wrapper and wrapper.get('optimizer'):
            assert wrapper.get('constructor') == 'SummaryOptimWrapperConstructor', path
            checked.append(path)
    assert len(checked) >= 10
