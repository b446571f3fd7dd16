"""Evaluate a segmentor of the plugin (same arguments and behaviour as mmseg's ``tools/test.py``).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR] [--show-dir DIR] [--cfg-options ...] [--debug]
    bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [...]

``CHECKPOINT`` may be ``none`` for models whose weights all come from the config (e.g. a zero-shot
CLIP baseline); mmseg's own tool requires a file. Works from any directory: a relative ``CONFIG`` or ``CHECKPOINT``
not found in the current directory is taken from the repository. Bad input ends with one line on stderr and exit
status 2, before the model is built; ``--debug`` shows the traceback.
"""
import argparse
import importlib.util
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
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor (mmseg-code)')
    parser.add_argument('config', help='test config file path (relative: the current directory, then the repository)')
    parser.add_argument('checkpoint', help='checkpoint file, or "none" to use the weights the config builds')
    parser.add_argument('--work-dir', help='directory for the evaluation metric results')
    parser.add_argument('--out', type=str, help='directory to save the prediction PNGs')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='directory where painted images will be saved')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    tool.add_cfg_options_arg(parser)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--tta', action='store_true', help='test time augmentation')
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
    args.checkpoint = tool.resolve_checkpoint(args.checkpoint, ROOT)
    for opt in ('work_dir', 'out', 'show_dir'):
        if getattr(args, opt) is not None:
            tool.ensure_writable_dir(getattr(args, opt), '--' + opt.replace('_', '-'))


def trigger_visualization_hook(cfg, args: argparse.Namespace) -> None:
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise tool.UserError('--show/--show-dir need default_hooks.visualization=dict(type="SegVisualizationHook") '
                             'in the config.')
    hooks.visualization['draw'] = True
    hooks.visualization['interval'] = 1  # every image (mmseg's default draws every 50th)
    if args.show:
        hooks.visualization['show'] = True
        hooks.visualization['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir


def main(argv=None) -> int:
    args = parse_args(argv)
    check_args(args)
    if args.check_args:
        return 0
    import mmseg_code  # noqa: F401  (registers the plugin, safe checkpoint loading)
    from mmengine.runner import Runner
    from mmseg_code.compat import init_cpu_distributed, set_strict_loading, teardown_distributed
    from mmseg_code.utils import load_tool_config

    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    tool.ensure_writable_dir(cfg.work_dir, 'work_dir')
    if args.checkpoint is not None:
        cfg.load_from = args.checkpoint
    # Testing never needs the training data: without these, mmseg's SegVisualizationHook (runner.iter) would
    # build the training loop and its dataloader, failing when e.g. the CC3M shards are not on this machine.
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = None
    cfg.param_scheduler = None
    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise tool.UserError('--tta needs tta_model and tta_pipeline in the config.')
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
    return 0


if __name__ == '__main__':
    sys.exit(tool.run_tool(main))
