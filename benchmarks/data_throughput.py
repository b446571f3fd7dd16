"""Data-side throughput of the image-text pipeline: decoded + transformed samples/s, per stage and per worker.

    python benchmarks/data_throughput.py                       # synthetic 256 px shards, builtin tagger
    python benchmarks/data_throughput.py --urls 'data/cc3m/{00000..00009}.tar' --tagger nltk --workers 0 2 4
    python benchmarks/data_throughput.py --model-config configs/code/code_tiny.py configs/code/code_vitb16_cc.py
    python benchmarks/data_throughput.py --baseline-rev da2c885     # webdataset stages vs the former reader

Prints (1) the mean time of each transform on one process, (2) samples/s through a DataLoader for each worker
count, and samples/s per worker, and (3) for each ``--model-config``, the images/s one training step of that
model consumes (forward + backward + optimizer step, random-init CLIP, same batch size, crop size from the
config) and the implied number of data workers one training process needs: model images/s ÷ samples/s per worker.

With ``--baseline-rev REV`` it also measures, on the same shards and in the same run, ``ImageTextDataset`` as it was
at git revision ``REV`` (its modules are extracted from git into a temporary package, for this measurement only)
against the current one: samples/s of one DataLoader worker with the training pipeline, and raw samples/s (no
transforms) in one process, alternating the two implementations ``--rounds`` times; the ratios are current / former.
"""
import argparse
import itertools
import os
import sys
import tempfile
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mmseg_code  # noqa: E402,F401  (registers the transforms)
from mmseg_code.datasets import ImageTextDataset  # noqa: E402


def train_pipeline(size: int, tagger: str) -> List[Dict]:
    """The CC3M/CC12M training pipeline of ``configs/_base_/datasets/cc3m_cc12m.py``."""
    return [
        dict(type='DecodeImageBytes'),
        dict(type='RandomResizedCrop', size=size, scale=(0.9, 1.0)),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='CleanCaption'),
        dict(type='SelectNouns', num_nouns=2, min_nouns=1, tagger=tagger),
        dict(type='TokenizeCaptionWithNouns'),
        dict(type='PackImageTextInputs'),
    ]


def stage_times(urls: str, pipeline: List[Dict], n: int) -> Dict[str, float]:
    """Mean milliseconds per sample of each transform (single process, no workers)."""
    raw_ds = ImageTextDataset(sources=dict(urls=urls), shuffle_buffer=0, pipeline=[])
    ds = ImageTextDataset(sources=dict(urls=urls), shuffle_buffer=0, pipeline=pipeline)
    raws = list(itertools.islice(iter(raw_ds), n))
    totals = {type(t).__name__: 0.0 for t in ds.transforms}
    done = 0
    for raw in raws:
        results = dict(raw)
        try:
            for t in ds.transforms:
                t0 = time.perf_counter()
                results = t(results)
                totals[type(t).__name__] += time.perf_counter() - t0
        except Exception:  # noqa: BLE001 -- skipped samples are not timed further
            continue
        done += 1
    return {k: 1000 * v / max(done, 1) for k, v in totals.items()}


def loader_throughput(urls: str, pipeline: List[Dict], workers: int, batch_size: int, batches: int) -> float:
    """Samples/s delivered by a DataLoader with ``workers`` worker processes (after one warm-up batch)."""
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader
    ds = ImageTextDataset(sources=dict(urls=urls), shuffle_buffer=100, pipeline=pipeline)
    loader = DataLoader(ds, batch_size=batch_size, num_workers=workers, collate_fn=pseudo_collate)
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - t0)


BASELINE_MODULES = ('image_text_dataset', 'sources', 'tar_stream', 'skip', 'stream_state')


def load_baseline(rev: str, tmp: str):
    """``ImageTextDataset`` as it was at git revision ``rev``: its modules from ``git show`` in a temporary package
    (not registered in mmseg's registry, which holds the current class under the same name)."""
    import importlib
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pkg = os.path.join(tmp, 'former_datasets')
    os.makedirs(pkg, exist_ok=True)
    for name in BASELINE_MODULES:
        src = subprocess.run(['git', 'show', f'{rev}:mmseg_code/datasets/{name}.py'], cwd=root, capture_output=True,
                             text=True)
        if src.returncode:
            raise SystemExit(f'--baseline-rev {rev}: cannot read mmseg_code/datasets/{name}.py from git: '
                             f'{src.stderr.strip().splitlines()[-1] if src.stderr.strip() else "not found"}')
        with open(os.path.join(pkg, f'{name}.py'), 'w') as f:
            f.write(src.stdout.replace('@DATASETS.register_module()\n', ''))
    open(os.path.join(pkg, '__init__.py'), 'w').close()
    sys.path.insert(0, tmp)
    return importlib.import_module('former_datasets.image_text_dataset').ImageTextDataset


def compare_with_baseline(former_cls, urls: str, pipeline: List[Dict], batch_size: int, batches: int,
                          rounds: int) -> None:
    """Current / former samples/s, alternating the two: one DataLoader worker with ``pipeline``; raw reading."""
    import statistics
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader

    def worker_rate(cls) -> float:
        ds = cls(sources=dict(urls=urls), shuffle_buffer=100, pipeline=pipeline)
        it = iter(DataLoader(ds, batch_size=batch_size, num_workers=1, collate_fn=pseudo_collate))
        next(it)
        t0 = time.perf_counter()
        for _ in range(batches):
            next(it)
        return batches * batch_size / (time.perf_counter() - t0)

    def raw_rate(cls) -> float:
        ds = cls(sources=dict(urls=urls), shuffle_buffer=100, pipeline=[], repeat=False)
        t0 = time.perf_counter()
        n = sum(1 for _ in ds)
        return n / (time.perf_counter() - t0)

    rows = {'one worker, training pipeline': worker_rate, 'raw samples, one process': raw_rate}
    print(f'current (webdataset stages) vs former reader, {rounds} alternating rounds:')
    for label, fn in rows.items():
        ratios, cur, old = [], [], []
        for _ in range(rounds):
            o = fn(former_cls)
            c = fn(ImageTextDataset)
            old.append(o)
            cur.append(c)
            ratios.append(c / o)
        print(f'  {label:32s} current {statistics.median(cur):8.1f}/s  former {statistics.median(old):8.1f}/s  '
              f'ratio {statistics.median(ratios):.3f} (median; rounds {", ".join(f"{r:.2f}" for r in ratios)})')


def config_crop_size(cfg) -> int:
    """The training crop size of a config (its ``RandomResizedCrop``), 224 when it has none."""
    for t in cfg.get('train_pipeline', []):
        if t.get('type') == 'RandomResizedCrop':
            size = t['size']
            return size if isinstance(size, int) else size[0]
    return 224


def model_images_per_second(config: str, urls: str, tagger: str, batch_size: int, steps: int) -> tuple:
    """Images/s of full training steps (``model.train_step``) of ``config`` on this machine's CPU/GPU."""
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.clip.pretrained = None  # architecture only: no weights are needed to time a step
    crop = config_crop_size(cfg)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    model = MODELS.build(cfg.model).to(device)
    model.train()
    optim_cfg = dict(cfg.optim_wrapper)
    if device == 'cpu':
        optim_cfg.update(type='OptimWrapper')  # AMP wrappers need a GPU
        optim_cfg.pop('loss_scale', None)
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel('WARNING')  # the paramwise table is long and not of interest here
    optim = build_optim_wrapper(model, optim_cfg)
    ds = ImageTextDataset(sources=dict(urls=urls), shuffle_buffer=0, pipeline=train_pipeline(crop, tagger))
    data = pseudo_collate(list(itertools.islice(iter(ds), batch_size)))
    model.train_step(data, optim)  # warm-up
    if device == 'cuda':
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_step(data, optim)
    if device == 'cuda':
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - t0), crop, device


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--urls', help='shard pattern; default: generate synthetic shards')
    p.add_argument('--synthetic-size', type=int, default=256, help='image side of generated shards')
    p.add_argument('--synthetic-num', type=int, default=600)
    p.add_argument('--crop-size', type=int, default=224)
    p.add_argument('--tagger', default='builtin', choices=['builtin', 'nltk'])
    p.add_argument('--workers', type=int, nargs='+', default=[0, 2])
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--batches', type=int, default=20)
    p.add_argument('--model-config', nargs='*', default=[], help='configs whose training step to time')
    p.add_argument('--model-batch-size', type=int, default=2)
    p.add_argument('--model-steps', type=int, default=3)
    p.add_argument('--baseline-rev', help='also compare with ImageTextDataset at this git revision (e.g. da2c885)')
    p.add_argument('--rounds', type=int, default=3, help='alternating rounds of the baseline comparison')
    args = p.parse_args(argv)
    tmp = None
    urls = args.urls
    if urls is None:
        from mmseg_code.datasets.synthetic_shapes import ShapesConfig, write_caption_shards
        tmp = tempfile.TemporaryDirectory()
        write_caption_shards(ShapesConfig(image_size=args.synthetic_size, max_objects=3), tmp.name,
                             args.synthetic_num, shard_size=100, progress=False)
        urls = os.path.join(tmp.name, '*.tar')
        print(f'synthetic shards: {args.synthetic_num} x {args.synthetic_size}px jpg')
    pipeline = train_pipeline(args.crop_size, args.tagger)
    print(f'cpu cores: {os.cpu_count()}  crop: {args.crop_size}  tagger: {args.tagger}')
    print('per-transform time, one process (ms/sample):')
    times = stage_times(urls, pipeline, 200)
    for k, v in times.items():
        print(f'  {k:28s} {v:7.3f}')
    print(f'  {"total":28s} {sum(times.values()):7.3f}  -> {1000 / sum(times.values()):.0f} samples/s')
    print('DataLoader throughput:')
    per_worker = []
    for w in args.workers:
        sps = loader_throughput(urls, pipeline, w, args.batch_size, args.batches)
        per_worker.append(sps / max(w, 1))
        print(f'  workers={w}: {sps:8.1f} samples/s  ({sps / max(w, 1):.1f} per worker)')
    if args.model_config:
        worker_rate = min(per_worker)
        print(f'training-step consumption (batch {args.model_batch_size}), against {worker_rate:.1f} samples/s '
              f'per worker:')
        for config in args.model_config:
            ips, crop, device = model_images_per_second(config, urls, args.tagger, args.model_batch_size,
                                                        args.model_steps)
            print(f'  {config} ({crop}px, {device}): {ips:8.2f} images/s -> '
                  f'{ips / worker_rate:.4f} workers per training process')
    if args.baseline_rev:
        with tempfile.TemporaryDirectory() as pkg_tmp:
            compare_with_baseline(load_baseline(args.baseline_rev, pkg_tmp), urls, pipeline, args.batch_size,
                                  args.batches, args.rounds)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == '__main__':
    sys.exit(main())
