"""Train a segmentor of the plugin (same arguments and behaviour as mmseg's ``tools/train.py``).

    python tools/train.py CONFIG [--work-dir DIR] [--resume] [--amp] [--cfg-options k=v ...] [--debug]
    bash tools/dist_train.sh CONFIG NUM_PROCESSES [...]   # torchrun; gloo on CPU-only machines

Works from any directory: a relative ``CONFIG`` not found in the current directory is taken from the repository.
Bad input (a path that does not exist, a work dir that cannot be written, a misspelt ``--cfg-options`` key, ...) ends
with one line on stderr and exit status 2, before the model is built; ``--debug`` shows the traceback.
"""
import argparse
import importlib.util
import logging
import os
import os.path as osp
import sys


def _tool_helper():
    """This checkout's ``mmseg_code/utils/tool.py``, loaded without the package import (which takes seconds)."""
    name = 'mmseg_code.utils.tool'
    if name not in sys.modules:
        path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'mmseg_code', 'utils', 'tool.py')
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


tool = _tool_helper()
ROOT = tool.setup_repo(__file__)  # this checkout's mmseg_code and projects/* (configs' custom_imports), any cwd


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor (mmseg-code)')
    parser.add_argument('config', help='train config file path (relative: the current directory, then the repository)')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', action='store_true', default=False,
                        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr linearly with the total batch (config auto_scale_lr.base_batch_size)')
    tool.add_cfg_options_arg(parser)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--check-args', action='store_true',
                        help='only check the arguments and paths (no config loading), then exit')
    tool.add_debug_arg(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def check_args(args: argparse.Namespace) -> None:
    """Paths, before anything heavy is imported."""
    args.config = tool.resolve_path(args.config, ROOT, 'config')
    if args.work_dir is not None:
        tool.ensure_writable_dir(args.work_dir)


def enable_amp(cfg) -> None:
    from mmengine.logging import print_log
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in your config.', logger='current', level=logging.WARNING)
        return
    if wrapper != 'OptimWrapper':
        raise tool.UserError(f'--amp needs optim_wrapper.type OptimWrapper, got {wrapper}.')
    import torch
    if not torch.cuda.is_available():
        raise tool.UserError('--amp needs a GPU (MMEngine\'s AmpOptimWrapper is CUDA/NPU/MLU only); '
                             'train on CPU without --amp.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def main(argv=None) -> int:
    args = parse_args(argv)
    check_args(args)
    if args.check_args:
        return 0
    import mmseg_code  # noqa: F401  (registers the plugin, safe checkpoint loading)
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS
    from mmseg_code.compat import init_cpu_distributed, set_strict_loading, teardown_distributed
    from mmseg_code.engine.reliability import add_reliability_hooks, check_train_config
    from mmseg_code.utils import load_tool_config

    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    tool.ensure_writable_dir(cfg.work_dir, 'work_dir')
    if args.amp:
        enable_amp(cfg)
    cfg.resume = args.resume
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise tool.UserError('--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the config.')
        cfg.auto_scale_lr.enable = True
    add_reliability_hooks(cfg)  # exact resume + non-finite guard (mmseg_code/engine/reliability.py)
    check_train_config(cfg)  # ConfigError: one line
    set_strict_loading(cfg.get('load_strict', True))  # --cfg-options load_strict=False: non-strict keys
    init_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    # free the runner (DDP model, dataloaders, their process-group references) while the interpreter is intact,
    # so gloo's threads are joined by their owners' destructors, not during interpreter shutdown
    del runner
    teardown_distributed()
    return 0


if __name__ == '__main__':
    sys.exit(tool.run_tool(main))
