"""The main job: captions in, segmentation out, on a CPU in about a quarter of an hour.

    python tools/quickstart.py                 # full run (2-core CPU: ~15 min)
    python tools/quickstart.py --smoke         # a few iterations on tiny data (~1-2 min), a quick check
    python tools/quickstart.py --pretrain      # re-run the shapes-CLIP pre-training instead of using the committed one

Steps (each a visible subprocess with its own progress):

1. generate the synthetic shapes caption shards and the VOC-style synthetic benchmark
   (``tools/dataset_converters/make_synthetic_shapes.py``; skipped when ``data/synthetic_shapes`` already holds the
   same generator arguments);
2. get the shapes CLIP: the committed ``checkpoints/shapes_clip.pth`` (``tools/pretrain_clip.py`` wrote it), or with
   ``--pretrain`` run that pre-training again (``configs/clip_pretrain/shapes_clip_vit.py`` through
   ``tools/train.py``; 4000 steps, ~35 min on one core);
3. evaluate the untrained model (CoDe's segmenter at its initialisation on the shapes CLIP) with ``tools/test.py``;
4. train tiny TCL and tiny CoDe with ``tools/train.py`` (``configs/{tcl,code}/*_tiny_shapes.py``), both at once on
   a 2-core machine (``--jobs``; each run single-threaded, which is also the fastest per-iteration setting measured);
5. evaluate both zero-shot on the synthetic benchmark with ``tools/test.py``, draw the loss curves (from MMEngine's
   scalar logs: the ``MessageHub`` history in the latest checkpoint) and a few prediction overlays, and print the
   table of mIoU (untrained, TCL, CoDe) with the paths of checkpoints, logs, curves and overlays.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import threading
import time



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
ROOT = tool.setup_repo(__file__)  # the steps run from the repository root, whatever the current directory
TCL_CFG = 'configs/tcl/tcl_tiny_shapes.py'
CODE_CFG = 'configs/code/code_tiny_shapes.py'
CLIP_CKPT = 'checkpoints/shapes_clip.pth'
_PRINT_LOCK = threading.Lock()
FULL = dict(num_train=4000, num_val=200, data='data/synthetic_shapes')
# --training-free: rows of the training-free methods on the same shapes CLIP and benchmark (no training, checkpoint none)
TRAINING_FREE = (('MaskCLIP', 'configs/training_free/maskclip/maskclip_shapes.py'),
                 ('SCLIP', 'configs/training_free/sclip/sclip_shapes.py'),
                 ('ClearCLIP', 'configs/training_free/clearclip/clearclip_shapes.py'),
                 ('NACLIP', 'configs/training_free/naclip/naclip_shapes.py'))
# --training-free also trains CoDe with its trainable copy of the last block on NACLIP's attention (the best
# training-free block on this benchmark) instead of MaskCLIP's value path: does training on the better block win?
CODE_NACLIP = ('CoDe-NACLIP', 'configs/code/code_tiny_shapes_naclip.py')
SMOKE = dict(num_train=64, num_val=8, iters=4, batch=4)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='mmseg-code main job: synthetic data -> shapes CLIP -> TCL and CoDe '
                                            '-> zero-shot mIoU table')
    p.add_argument('--work-dir', default=None,
                   help='outputs (default: work_dirs/quickstart[_smoke] in the repository; a relative --work-dir is '
                        'relative to the current directory)')
    p.add_argument('--smoke', action='store_true', help='a few iterations on tiny data (a quick check)')
    p.add_argument('--pretrain', action='store_true', help='re-run the shapes-CLIP pre-training')
    p.add_argument('--clip', default=CLIP_CKPT, help='shapes CLIP checkpoint to start from (relative: the current '
                                                     'directory, then the repository)')
    p.add_argument('--threads', type=int, default=1,
                   help='CPU threads per job (1: on a shared 2-core machine 2 threads measured ~8x slower per iteration)')
    p.add_argument('--jobs', type=int, default=min(2, os.cpu_count() or 1),
                   help='training runs (TCL, CoDe) in parallel, each with --threads threads (default: 2 on a 2-core '
                        'machine; 1 runs them one after the other)')
    p.add_argument('--iters', type=int, default=None, help='override the training iterations of both methods')
    p.add_argument('--skip-untrained', action='store_true', help='do not evaluate the untrained model')
    p.add_argument('--training-free', action='store_true',
                   help='also evaluate MaskCLIP, SCLIP, ClearCLIP and NACLIP (training-free, same CLIP and '
                        'benchmark) and train CoDe on the NACLIP block (CoDe-NACLIP, a third training run)')
    tool.add_debug_arg(p)
    args = p.parse_args(argv)
    for opt in ('threads', 'jobs', 'iters'):
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            p.error(f'--{opt} must be at least 1, got {getattr(args, opt)}')
    return args


def banner(msg: str) -> None:
    print(f'\n{"=" * 100}\n[quickstart] {msg}\n{"=" * 100}', flush=True)


def run(cmd: list[str], env: dict, log: str | None = None, prefix: str = '') -> None:
    """Run a subprocess from the repository root, its output streamed to the console (and to ``log``); lines are
    prefixed with ``prefix`` (to tell parallel jobs apart)."""
    with _PRINT_LOCK:
        print(f'[quickstart] {prefix}$ ' + ' '.join(cmd), flush=True)
    t0 = time.time()
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1) as proc:
        f = open(log, 'w') if log else None
        for line in proc.stdout:
            with _PRINT_LOCK:
                sys.stdout.write(prefix + line)
                sys.stdout.flush()
            if f:
                f.write(line)
        if f:
            f.close()
    if proc.returncode:
        raise SystemExit(f'[quickstart] command failed (exit {proc.returncode}): {" ".join(cmd)}'
                         + (f'\n  see {log}' if log else ''))
    with _PRINT_LOCK:
        print(f'[quickstart] {prefix}done in {time.time() - t0:.0f}s', flush=True)


def run_parallel(jobs: list[tuple], env: dict, max_jobs: int) -> None:
    """``run`` several ``(cmd, log, prefix)`` jobs, at most ``max_jobs`` at a time; the first failure is raised after
    all have ended (a failed job does not kill its sibling half-way through a checkpoint)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=max(1, max_jobs)) as pool:
        futures = [pool.submit(run, cmd, env, log, prefix) for cmd, log, prefix in jobs]
        errors = [fut.exception() for fut in futures]
    for err in errors:
        if err is not None:
            raise err


def make_data(out: str, num_train: int, num_val: int, env: dict) -> None:
    args_file = osp.join(ROOT, out, 'generator_args.json')
    want = dict(num_train=num_train, num_val=num_val, image_size=64, seed=0)
    if osp.isfile(args_file):
        with open(args_file) as f:
            have = json.load(f)
        if all(have.get(k) == v for k, v in want.items()) and glob.glob(osp.join(ROOT, out, 'shards', '*.tar')):
            print(f'[quickstart] {out} already holds the synthetic data ({num_train} pairs, {num_val} benchmark '
                  'images): reused', flush=True)
            return
        shutil.rmtree(osp.join(ROOT, out))
    run([sys.executable, 'tools/dataset_converters/make_synthetic_shapes.py', '--out', out, '--num-train',
         str(num_train), '--num-val', str(num_val), '--image-size', '64', '--seed', '0'], env)


def data_options(data: str, smoke: bool) -> list[str]:
    opts = [f'train_dataloader.dataset.sources.urls={data}/shards/*.tar', f'val_dataloader.dataset.data_root={data}/seg',
            f'test_dataloader.dataset.data_root={data}/seg']
    if smoke:
        opts += [f'train_dataloader.batch_size={SMOKE["batch"]}']
    return opts


def train_options(iters: int | None) -> list[str]:
    opts = []
    if iters is not None:
        warm = max(1, iters // 10)  # the configs' schedule: 10 % linear warm-up, then cosine to the last iteration
        opts += [f'train_cfg.max_iters={iters}', f'default_hooks.checkpoint.interval={iters}',
                 f'param_scheduler.0.end={warm}', f'param_scheduler.1.begin={warm}', f'param_scheduler.1.end={iters}',
                 f'param_scheduler.1.T_max={max(1, iters - warm)}',
                 f'model.decode_head.unfreeze_iter={max(1, iters // 2)}',
                 f'default_hooks.logger.interval={max(1, min(20, iters // 2))}']
    return opts


def trained_methods(training_free: bool) -> tuple:
    """``(name, config)`` of the training runs: TCL and CoDe; with ``--training-free`` also :data:`CODE_NACLIP`."""
    return (('TCL', TCL_CFG), ('CoDe', CODE_CFG)) + ((CODE_NACLIP, ) if training_free else ())


def evaluate_training_free(test, data: str, clip: str) -> None:
    """The training-free rows: ``tools/test.py <config> none`` for each of :data:`TRAINING_FREE` on the benchmark
    ``<data>/seg`` with the shapes CLIP (through ``test``, the main job's evaluation and overlays)."""
    opts = [f'test_dataloader.dataset.data_root={data}/seg', f'model.clip.pretrained={clip}']
    for name, cfg in TRAINING_FREE:
        test(name, cfg, 'none', opts)


def read_metrics(work_dir: str) -> dict:
    """The metrics json MMEngine's test loop writes under ``<work_dir>/<timestamp>/<timestamp>.json``."""
    files = sorted(glob.glob(osp.join(work_dir, '*', '*.json')), key=osp.getmtime)
    for path in reversed(files):
        with open(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError:
                continue
        if isinstance(data, dict) and 'mIoU' in data:
            return data
    return {}


def latest_checkpoint(work_dir: str) -> str:
    """The checkpoint MMEngine's ``last_checkpoint`` names (``mmengine.runner.find_latest_checkpoint``)."""
    from mmengine.runner import find_latest_checkpoint
    path = find_latest_checkpoint(work_dir)
    if not path or not osp.isfile(path):
        raise SystemExit(f'[quickstart] no checkpoint under {work_dir}')
    return path


def loss_history(checkpoint: str) -> dict[str, list[float]]:
    """Per-iteration training losses from MMEngine's scalar logs: the ``MessageHub`` state a checkpoint holds
    (``train/loss*`` history buffers, one value per iteration)."""
    import torch
    from mmengine.logging import MessageHub

    from mmseg_code.engine.checkpoint_format import from_weights_only
    hub = MessageHub.get_instance(f'quickstart:{checkpoint}')
    # AtomicCheckpointHook's weights-only-clean format: torch's default loader reads it, from_weights_only restores
    # the HistoryBuffers
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)['message_hub']
    hub.load_state_dict(from_weights_only(state))
    return {k.split('/', 1)[1]: hub.get_scalar(k).data[0].tolist() for k in hub.log_scalars
            if k.startswith('train/loss')}


def plot_losses(work_dir: str, out_png: str, title: str) -> str | None:
    """Loss curves of a training run (:func:`loss_history` of its latest checkpoint)."""
    series = loss_history(latest_checkpoint(work_dir))
    if not series:
        return None
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, y in sorted(series.items()):
        ax.plot(range(1, len(y) + 1), y, label=k, lw=2.0 if k == 'loss' else 1.0)
    ax.set_xlabel('iteration')
    ax.set_ylabel('loss')
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def draw_overlays(seg_root: str, pred_dir: str, out_png: str, num: int = 4, zoom: int = 3) -> list[str]:
    """One PNG: for the first ``num`` benchmark images (enlarged ``zoom`` times), a row image | ground truth |
    prediction, each label map overlaid in the benchmark's colours, and a legend of the classes present
    (``mmseg_code.apis.visualization.draw_overlay``)."""
    import numpy as np
    from PIL import Image

    from mmseg_code.apis.visualization import class_palette, draw_overlay
    names = [ln.strip() for ln in open(osp.join(seg_root, 'ImageSets', 'Segmentation', 'val.txt')) if ln.strip()]
    with open(osp.join(seg_root, 'class_names.txt')) as f:
        classes = [ln.strip() for ln in f if ln.strip()]
    palette = class_palette(classes)
    rows = []
    for name in names[:num]:
        pred_path = osp.join(pred_dir, name + '.png')
        if not osp.isfile(pred_path):
            continue
        img = Image.open(osp.join(seg_root, 'JPEGImages', name + '.jpg')).convert('RGB')
        gt = Image.open(osp.join(seg_root, 'SegmentationClass', name + '.png'))
        pred = Image.open(pred_path)
        size = (img.width * zoom, img.height * zoom)
        img, gt, pred = (np.array(im.resize(size, Image.NEAREST)) for im in (img, gt, pred))
        rows.append(draw_overlay(img, [gt, pred], classes, palette, side_by_side=True))
    if not rows:
        return []
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    os.makedirs(osp.dirname(out_png), exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(out_png)
    return [out_png]


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.time()
    if args.work_dir is not None:
        work = osp.abspath(osp.expanduser(args.work_dir))
    else:
        work = osp.join(ROOT, 'work_dirs', 'quickstart_smoke' if args.smoke else 'quickstart')
    clip = None
    if not args.pretrain:
        try:
            clip = osp.abspath(tool.resolve_path(args.clip, ROOT, '--clip checkpoint'))
        except tool.UserError as e:
            raise tool.UserError(f'{e}; run with --pretrain, or see tools/pretrain_clip.py') from None
    tool.ensure_writable_dir(work)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               PYTHONUNBUFFERED='1')
    py = sys.executable

    banner('1/5 synthetic shapes data (caption shards + VOC-style benchmark)')
    if args.smoke:
        data = osp.relpath(osp.join(work, 'data'), ROOT)
        make_data(data, SMOKE['num_train'], SMOKE['num_val'], env)
    else:
        data = FULL['data']
        make_data(data, FULL['num_train'], FULL['num_val'], env)

    banner('2/5 shapes CLIP (stands in for the pretrained CLIP a user downloads)')
    if args.pretrain:
        clip = osp.join(work, 'shapes_clip.pth')
        cmd = [py, 'tools/pretrain_clip.py', '--out', clip, '--work-dir', osp.join(work, 'pretrain')]
        if args.smoke:
            cmd += ['--data', osp.join(work, 'pretrain_data'), '--num-train', '256', '--steps', '5',
                    '--batch-size', '16', '--num-eval', '20', '--eval-every', '0']
        run(cmd, env)
    clip_abs = clip
    print(f'[quickstart] CLIP: {clip_abs}', flush=True)

    iters = SMOKE['iters'] if args.smoke else args.iters
    common = data_options(data, args.smoke) + [f'model.clip.pretrained={clip_abs}']
    results: dict[str, dict] = {}
    outputs: dict[str, dict] = {}
    overlays_dir = osp.join(work, 'overlays')

    def test(name: str, cfg: str, ckpt: str, opts: list[str] | None = None) -> None:
        wd = osp.join(work, f'test_{name}')
        pred_dir = osp.join(wd, 'pred')
        if osp.isdir(pred_dir):
            shutil.rmtree(pred_dir)
        run([py, 'tools/test.py', cfg, ckpt, '--work-dir', wd, '--out', pred_dir, '--cfg-options',
             *(common if opts is None else opts)], env,
            log=osp.join(work, f'test_{name}.log'))
        results[name] = read_metrics(wd)
        outputs.setdefault(name, {})['overlays'] = draw_overlays(osp.join(ROOT, data, 'seg'), pred_dir,
                                                                 osp.join(overlays_dir, f'{name}.png'))

    if not args.skip_untrained:
        banner('3/5 untrained model (CoDe segmenter at initialisation on the shapes CLIP), zero-shot')
        test('untrained', CODE_CFG, 'none')
    if args.training_free:
        banner('3/5 (+) training-free MaskCLIP, SCLIP, ClearCLIP, NACLIP on the shapes CLIP, zero-shot')
        evaluate_training_free(test, data, clip_abs)

    methods = trained_methods(args.training_free)
    banner(f'4/5 train tiny TCL ({TCL_CFG}) and tiny CoDe ({CODE_CFG})'
           + (f' and {CODE_NACLIP[0]} ({CODE_NACLIP[1]})' if args.training_free else '')
           + (f' in parallel, {args.jobs} at a time (lines prefixed [TCL] / [CoDe] / ...)' if args.jobs > 1 else ''))
    t0 = time.time()
    jobs = []
    for name, cfg in methods:
        wd = osp.join(work, name.lower())
        jobs.append(([py, 'tools/train.py', cfg, '--work-dir', wd, '--cfg-options', *common, *train_options(iters),
                      f'train_cfg.val_interval={10 ** 9}'], osp.join(work, f'train_{name.lower()}.log'),
                     f'[{name}] ' if args.jobs > 1 else ''))
    run_parallel(jobs, env, args.jobs)
    train_s = time.time() - t0
    banner('5/5 evaluate the trained TCL and CoDe zero-shot, draw loss curves and overlays')
    for name, cfg in methods:
        wd = osp.join(work, name.lower())
        ckpt = latest_checkpoint(wd)
        outputs.setdefault(name, {}).update(
            checkpoint=ckpt, train_log=osp.join(work, f'train_{name.lower()}.log'), train_s=train_s,
            curve=plot_losses(wd, osp.join(work, f'loss_{name.lower()}.png'), f'{name} on synthetic shapes'))
        test(name, cfg, ckpt)

    banner('results: zero-shot mIoU on the synthetic shapes benchmark'
           + (' (SMOKE: 4 iterations on 8 images, numbers mean nothing)' if args.smoke else ''))
    print(f'{"model":<12}{"mIoU":>8}{"mAcc":>8}{"aAcc":>8}   checkpoint')
    for name in ('untrained', 'TCL', 'CoDe', CODE_NACLIP[0]) + tuple(n for n, _ in TRAINING_FREE):
        if name not in results:
            continue
        m = results[name]
        ck = outputs.get(name, {}).get('checkpoint', '-')
        print(f'{name:<12}{m.get("mIoU", float("nan")):>8.2f}{m.get("mAcc", float("nan")):>8.2f}'
              f'{m.get("aAcc", float("nan")):>8.2f}   {ck}')
    print(f'\nwork dir:      {work}')
    width = max(15, max(len(name) for name, _ in methods) + 8)
    for name, _ in methods:
        o = outputs.get(name, {})
        print(f'{name + " log:":<{width}}{o.get("train_log")}  '
              f'(MMEngine run dirs under {osp.join(work, name.lower())})')
        print(f'{name + " curve:":<{width}}{o.get("curve")}')
    ov = [p for o in outputs.values() for p in o.get('overlays', [])]
    print(f'overlays:      ' + ', '.join(ov) + '  (rows: image | ground truth | prediction | legend)')
    summary = dict(results=results, outputs=outputs, wall_s=round(time.time() - t_start, 1), smoke=args.smoke,
                   clip=clip_abs, threads=args.threads)
    with open(osp.join(work, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1, default=str)
    print(f'summary:       {osp.join(work, "summary.json")}\ntotal wall time {summary["wall_s"] / 60:.1f} min',
          flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(tool.run_tool(main))
