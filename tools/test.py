"""Evaluate a segmentor of the plugin (same arguments and behaviour as mmseg's ``tools/test.py``).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR] [--show-dir DIR] [--cfg-options ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [...]

``CHECKPOINT`` may be ``none`` for models whose weights all come from the config (e.g. a zero-shot
CLIP baseline); mmseg's own tool requires a file.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmseg_code  # noqa: F401  (registers the plugin, safe checkpoint loading)
from mmseg_code.compat import init_cpu_distributed, teardown_distributed, set_strict_loading
from mmseg_code.utils import load_tool_config

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # repo root: custom_imports of projects/*


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor (mmseg-code)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file, or "none" to use the weights the config builds')
    parser.add_argument('--work-dir', help='directory for the evaluation metric results')
    parser.add_argument('--out', type=str, help='directory to save the prediction PNGs')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='directory where painted images will be saved')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value pairs')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--tta', action='store_true', help='test time augmentation')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def trigger_visualization_hook(cfg: Config, args: argparse.Namespace) -> None:
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise RuntimeError('--show/--show-dir need default_hooks.visualization=dict(type="SegVisualizationHook").')
    hooks.visualization['draw'] = True
    hooks.visualization['interval'] = 1  # every image (mmseg's default draws every 50th)
    if args.show:
        hooks.visualization['show'] = True
        hooks.visualization['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir


def main() -> None:
    args = parse_args()
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    if args.checkpoint.lower() != 'none':
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
        cfg.load_from = args.checkpoint
    # Testing never needs the training data: without these, mmseg's SegVisualizationHook (runner.iter) would
    # build the training loop and its dataloader, failing when e.g. the CC3M shards are not on this machine.
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = None
    cfg.param_scheduler = None
    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)
    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    set_strict_loading(cfg.get('load_strict', True))  # --cfg-options load_strict=False: non-strict keys
    init_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.test()
    # free the runner (DDP model, dataloaders, their process-group references) while the interpreter is intact,
    # so gloo's threads are joined by their owners' destructors, not during interpreter shutdown
    del runner
    teardown_distributed()


if __name__ == '__main__':
    main()
