"""Train a segmentor of the plugin (same arguments and behaviour as mmseg's ``tools/train.py``).

    python tools/train.py CONFIG [--work-dir DIR] [--resume] [--amp] [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG NUM_PROCESSES [...]   # torchrun; gloo on CPU-only machines
"""
import argparse
import logging
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

import mmseg_code  # noqa: F401  (registers the plugin, safe checkpoint loading)
from mmseg.registry import RUNNERS
from mmseg_code.compat import init_cpu_distributed, teardown_distributed, set_strict_loading
from mmseg_code.utils import load_tool_config
from mmseg_code.engine.reliability import ConfigError, add_reliability_hooks, check_train_config

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # repo root: custom_imports of projects/*


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor (mmseg-code)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', action='store_true', default=False,
                        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr linearly with the total batch (config auto_scale_lr.base_batch_size)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value pairs (lists as key="[a,b]", '
                        'no white space)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def enable_amp(cfg: Config) -> None:
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in your config.', logger='current', level=logging.WARNING)
        return
    if wrapper != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, got {wrapper}.')
    import torch
    if not torch.cuda.is_available():
        raise SystemExit('--amp needs a GPU (MMEngine\'s AmpOptimWrapper is CUDA/NPU/MLU only); '
                         'train on CPU without --amp.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def main() -> None:
    args = parse_args()
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    if args.amp:
        enable_amp(cfg)
    cfg.resume = args.resume
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ValueError('--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the config.')
        cfg.auto_scale_lr.enable = True
    add_reliability_hooks(cfg)  # exact resume + non-finite guard (mmseg_code/engine/reliability.py)
    try:
        check_train_config(cfg)
    except ConfigError as e:
        raise SystemExit(f'error: {e}')
    set_strict_loading(cfg.get('load_strict', True))  # --cfg-options load_strict=False: non-strict keys
    init_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    # free the runner (DDP model, dataloaders, their process-group references) while the interpreter is intact,
    # so gloo's threads are joined by their owners' destructors, not during interpreter shutdown
    del runner
    teardown_distributed()


if __name__ == '__main__':
    main()
