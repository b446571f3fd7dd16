"""Pre-train the shapes CLIP the main job starts from: a thin wrapper around ``tools/train.py`` with
``configs/clip_pretrain/shapes_clip_vit.py`` (the recipe lives in the config and in ``CLIPPretrainer``).

    OMP_NUM_THREADS=1 python tools/pretrain_clip.py --out checkpoints/shapes_clip.pth      # 1-3 h
    python tools/pretrain_clip.py --eval-only checkpoints/shapes_clip.pth                  # tools/test.py on it

1. generates ``--data`` (30000 caption pairs and 500 held-out benchmark images, 64 px, seed 0) when it is missing
   (``tools/dataset_converters/make_synthetic_shapes.py``);
2. runs ``tools/train.py CONFIG --work-dir WORK --cfg-options ...`` (``--resume`` continues an interrupted run
   exactly), where ``--steps``, ``--batch-size`` and ``--eval-every`` become config options (5 % warm-up, cosine to
   the last step);
3. ``ExportCLIPHook`` writes the open_clip checkpoint to ``--out`` (fp16) and ``<out>_log.json``.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/clip_pretrain/shapes_clip_vit.py'


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default='work_dirs/shapes_clip/shapes_clip.pth', help='exported CLIP checkpoint')
    p.add_argument('--work-dir', default=None, help='MMEngine work dir (default: the folder of --out)')
    p.add_argument('--data', default='data/shapes_pretrain', help='data root (generated when missing)')
    p.add_argument('--num-train', type=int, default=30000, help='pairs to generate when the data is missing')
    p.add_argument('--num-eval', type=int, default=500, help='held-out images to generate when the data is missing')
    p.add_argument('--steps', type=int, default=None, help='training iterations (config: 4000)')
    p.add_argument('--batch-size', type=int, default=None, help='pairs per step (config: 64)')
    p.add_argument('--eval-every', type=int, default=None, help='validate every N steps (config: 500; 0: at the end)')
    p.add_argument('--resume', action='store_true', help='continue the run in --work-dir from its last checkpoint')
    p.add_argument('--eval-only', metavar='CKPT', help='evaluate an exported CLIP checkpoint with tools/test.py')
    p.add_argument('--cfg-options', nargs='+', default=[], help='further config overrides (key=value)')
    return p.parse_args(argv)


def schedule_options(steps: int, eval_every) -> list:
    """Config options for ``steps`` iterations: 5 % linear warm-up, cosine to the last step, validation every
    ``eval_every`` steps (0 or None: at the end)."""
    warm = max(1, round(0.05 * steps))
    return [f'train_cfg.max_iters={steps}', f'param_scheduler.0.end={warm}',
            f'param_scheduler.0.start_factor={1 / warm}', f'param_scheduler.1.begin={warm}',
            f'param_scheduler.1.end={steps}', f'param_scheduler.1.T_max={max(1, steps - warm)}',
            f'default_hooks.checkpoint.interval={min(500, steps)}', f'train_cfg.val_interval={eval_every or steps}']


def hook_index(hook_type: str) -> int:
    """Position of ``hook_type`` in the config's ``custom_hooks`` (``--cfg-options`` addresses list items by index;
    the runtime's reliability hooks come first)."""
    from mmengine.config import Config
    hooks = Config.fromfile(osp.join(ROOT, CONFIG)).custom_hooks
    return next(i for i, h in enumerate(hooks) if h['type'] == hook_type)


def main(argv=None) -> int:
    args = parse_args(argv)
    py = sys.executable
    data = args.data
    if not osp.isdir(osp.join(ROOT, data, 'shards')) or not osp.isdir(osp.join(ROOT, data, 'seg')):
        subprocess.run([py, 'tools/dataset_converters/make_synthetic_shapes.py', '--out', data, '--num-train',
                        str(args.num_train), '--num-val', str(args.num_eval), '--image-size', '64', '--seed', '0'],
                       cwd=ROOT, check=True)
    opts = [f'train_dataloader.dataset.sources.urls={data}/shards/*.tar',
            f'val_dataloader.dataset.data_root={data}/seg', f'test_dataloader.dataset.data_root={data}/seg']
    if args.eval_only:
        cmd = [py, 'tools/test.py', CONFIG, 'none', '--work-dir', args.work_dir or 'work_dirs/shapes_clip_eval',
               '--cfg-options', *opts, f'model.pretrained={osp.abspath(args.eval_only)}', *args.cfg_options]
        return subprocess.run(cmd, cwd=ROOT).returncode
    work = args.work_dir or osp.dirname(osp.abspath(args.out))
    if args.batch_size:
        opts.append(f'train_dataloader.batch_size={args.batch_size}')
    if args.steps or args.eval_every is not None:
        opts += schedule_options(args.steps or 4000, args.eval_every if args.eval_every is not None else 500)
    opts.append(f'custom_hooks.{hook_index("ExportCLIPHook")}.out={osp.abspath(args.out)}')
    cmd = [py, 'tools/train.py', CONFIG, '--work-dir', work] + (['--resume'] if args.resume else [])
    cmd += ['--cfg-options', *opts, *args.cfg_options]
    print('[pretrain_clip] $ ' + ' '.join(cmd), flush=True)
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == '__main__':
    sys.exit(main())
