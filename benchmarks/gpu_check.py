"""One-command GPU check: training step, zero-shot throughput, data pipeline and projected wall times, as Markdown.

    python benchmarks/gpu_check.py                        # on a CUDA machine: ViT-B/16, < 8 minutes
    python benchmarks/gpu_check.py --device cpu --tiny --smoke   # every section with tiny sizes (tests, no GPU)

Without a CUDA device (and without ``--device cpu``) it prints one line saying so and exits 0.

Sections (random-init weights, ``pretrained=None``: speed does not depend on them; each section in its own
try/except, an error is printed in its table row and the next section runs):

1. **Training step** — CoDe ViT-B/16 (``configs/code/code_vitb16_cc.py``, 224² crops) at batch 16 and 64 per GPU,
   with fp16 AMP + GradScaler (MMEngine's ``AmpOptimWrapper``, what ``tools/train.py --amp`` uses) and with bf16
   autocast (no scaler): step time, the step ÷ floor ratio (floor = the unavoidable forward/backward passes and the
   optimizer step, ``benchmarks/train_step.py``'s definition, timed round-robin with the step), peak CUDA memory
   (``max_memory_allocated`` over one step, weights and optimizer state included) and per sample.
2. **Zero-shot inference** at short side 448 (``benchmarks/eval_throughput.py``'s modes: whole, slide loop, slide
   batched, ± PAMR, fp32 / fp16 / bf16, with the harness overhead over the encoder + head forward).
3. **Data pipeline** — decoded + transformed samples/s of the CC3M/CC12M training pipeline on synthetic JPEG shards
   (``benchmarks/data_throughput.py``), per worker, against one training step's demand (batch ÷ step time).
4. **Projections** — the paper's 50k-iteration schedule (measured step time at 16 per GPU × 50,000; the paper runs
   4 GPUs × 16, DDP communication not included) and the full 8-benchmark Table 1 (val-set sizes × windows per image ÷
   the measured slide-batched rate with PAMR; image decoding and the metric not included).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

# Val-set images of the 8 benchmarks (docs/evaluation.md) and the sliding windows per image at short side 448
# (crop 448, stride 224: 4:3 images → 448×597 → 2 windows; Cityscapes 896×448 → 3 windows).
BENCHMARKS = {
    'voc21': (1449, 2), 'voc20': (1449, 2), 'context60': (5105, 2), 'context59': (5105, 2),
    'coco_object': (5000, 2), 'coco_stuff171': (5000, 2), 'cityscapes': (500, 3), 'ade20k': (2000, 2),
}
SCHEDULE_ITERS = 50000


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='auto', help="'auto' (CUDA or the one-line skip), 'cuda', 'cpu'")
    p.add_argument('--tiny', action='store_true', help='tiny CLIP instead of ViT-B/16 (small sizes)')
    p.add_argument('--smoke', action='store_true', help='minimal repeats and sizes: checks that every section runs')
    p.add_argument('--batches', type=int, nargs='+', default=None, help='training batch sizes per GPU (16 64)')
    p.add_argument('--budget-s', type=float, default=420.0, help='skip the sections left after this many seconds')
    return p.parse_args(argv)


def err_text(e: BaseException) -> str:
    first = (str(e).strip().splitlines() or [''])[0]
    return f'error: {type(e).__name__}: {first[:160]}'.replace('|', '/')


def md_table(head, rows) -> str:
    out = ['| ' + ' | '.join(head) + ' |', '|' + '|'.join(['---'] * len(head)) + '|']
    out += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return '\n'.join(out)


def hours(seconds: float) -> str:
    return f'{seconds / 3600:.1f} h' if seconds >= 3600 else f'{seconds / 60:.1f} min'


class Check:
    def __init__(self, args, dev):
        self.args, self.dev = args, dev
        self.t0 = time.perf_counter()
        self.step_s = {}          # (batch, precision) → seconds
        self.eval_rows = []
        self.data_rate = None     # samples/s per worker

    def over_budget(self) -> bool:
        return time.perf_counter() - self.t0 > self.args.budget_s

    # ------------------------------------------------------------------ 1. training step
    def train(self) -> str:
        import torch
        from common import build_model, load_config, make_batch, timeit_interleaved
        from mmengine.optim import OptimWrapper, build_optim_wrapper
        from train_step import floor_parts
        a, dev = self.args, self.dev
        arch_cfg = 'configs/code/code_tiny.py' if a.tiny else 'configs/code/code_vitb16_cc.py'
        size = 32 if a.smoke else 224
        batches = a.batches or ([2] if a.smoke else [16, 64])
        repeat = 1 if a.smoke else 3
        rows = []
        cfg = load_config(arch_cfg)
        model = build_model(cfg, dev).train()
        for bs in batches:
            for prec in ('fp16', 'bf16'):
                if self.over_budget():
                    rows.append([bs, prec] + ['skipped: time budget'] + [''] * 5)
                    continue
                try:
                    rows.append([bs, prec] + self._train_one(model, cfg, bs, size, prec, repeat, torch,
                                                             build_optim_wrapper, OptimWrapper, make_batch,
                                                             timeit_interleaved, floor_parts))
                except Exception as e:  # noqa: BLE001  (reported in the table; the next configuration runs)
                    rows.append([bs, prec, err_text(e)] + [''] * 5)
                finally:
                    model.zero_grad(set_to_none=True)
                    if dev.type == 'cuda':
                        torch.cuda.empty_cache()
        name = cfg.model.clip.model_name
        head = ['batch/GPU', 'precision', 'step s', 'floor s', 'step ÷ floor', 'peak GB', 'GB/sample', 'samples/s']
        return (f'### Training step: CoDe {name}, {size}² crops (random init)\n\n' + md_table(head, rows) +
                '\n\nfp16 = AmpOptimWrapper (fp16 autocast + dynamic GradScaler, `--amp`); bf16 = bf16 autocast, no '
                'scaler; floor = benchmarks/train_step.py\'s unavoidable passes + optimizer step (round-robin).')

    def _train_one(self, model, cfg, bs, size, prec, repeat, torch, build_optim_wrapper, OptimWrapper, make_batch,
                   timeit_interleaved, floor_parts):
        import logging
        from mmengine.logging import MMLogger
        dev = self.dev
        dtype = torch.float16 if prec == 'fp16' else torch.bfloat16
        ow = dict(cfg.optim_wrapper)
        if prec == 'fp16' and dev.type == 'cuda':
            ow.update(type='AmpOptimWrapper', loss_scale='dynamic', dtype='float16')
        else:
            ow['type'] = 'OptimWrapper'
            ow.pop('loss_scale', None)
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            optim = build_optim_wrapper(model, ow)
        finally:
            logger.setLevel(level)
        uses_amp_wrapper = type(optim).__name__ == 'AmpOptimWrapper'

        def autocast():
            return torch.autocast(dev.type, dtype=dtype)

        inputs, samples = make_batch(cfg, bs, size, dev)

        def step():
            ctx = optim.optim_context(model) if uses_amp_wrapper else autocast()
            with ctx:
                losses = model.loss(inputs, samples)
            parsed, _ = model.parse_losses(losses)
            optim.update_params(parsed)

        step()                                           # first step: allocator, scaler, Adam state
        peak = None
        if dev.type == 'cuda':
            torch.cuda.synchronize(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            step()
            peak = torch.cuda.max_memory_allocated(dev) / 2 ** 30
        plain = OptimWrapper(optimizer=optim.optimizer)  # the floor's optimizer step: no scaler bookkeeping
        parts = floor_parts(model, inputs, samples, plain, autocast)
        t = timeit_interleaved(dict(step=step, **parts), dev, warmup=0 if self.args.smoke else 1, repeat=repeat)
        t_step = t.pop('step')
        floor = sum(t.values())
        optim.zero_grad()
        self.step_s[(bs, prec)] = t_step
        return [f'{t_step:.3f}', f'{floor:.3f}', f'{t_step / floor:.2f}',
                'n/a (cpu)' if peak is None else f'{peak:.2f}', 'n/a' if peak is None else f'{peak / bs:.3f}',
                f'{bs / t_step:.1f}']

    # ------------------------------------------------------------------ 2. zero-shot
    def zero_shot(self) -> str:
        import eval_throughput as et
        a, dev = self.args, self.dev
        arch = 'tiny' if a.tiny else 'vitb16'
        size = 32 if a.smoke else 448
        images = 1 if a.smoke else 4
        dtypes = ['fp32', 'bf16'] if dev.type == 'cpu' else ['fp32', 'fp16', 'bf16']
        cfg, model = et.build(arch, dev, 21)
        self.eval_rows, n_win = et.measure(model, dev, size, images, 8, dtypes, True, warmup=0 if a.smoke else 1,
                                           repeat=1 if a.smoke else 3)
        self.eval_images = images
        return (f'### Zero-shot inference: {cfg.model.clip.model_name} (random init), {images} images of '
                f'{size}×{size * 3 // 2}, 21 classes, slide {size}/{size // 2} ({n_win} windows/image), '
                f'window_batch 8\n\n' + et.format_table(self.eval_rows, images, markdown=True) +
                '\n\noverhead = row time ÷ (frozen image encoder + decode head forward on the same windows); '
                'target ≤ 1.10 without PAMR.')

    # ------------------------------------------------------------------ 3. data pipeline
    def data(self) -> str:
        import tempfile
        import data_throughput as dt
        from mmseg_code.datasets.synthetic_shapes import ShapesConfig, write_caption_shards
        a = self.args
        n, side = (40, 64) if a.smoke else (600, 256)
        workers = [0] if a.smoke else [0, min(4, os.cpu_count() or 1)]
        bs, batches = (4, 3) if a.smoke else (16, 20)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            write_caption_shards(ShapesConfig(image_size=side, max_objects=3), tmp, n, shard_size=100,
                                 progress=False)
            urls = os.path.join(tmp, '*.tar')
            pipeline = dt.train_pipeline(32 if a.smoke else 224, 'builtin')
            for w in workers:
                try:
                    sps = dt.loader_throughput(urls, pipeline, w, bs, batches)
                    per = sps / max(w, 1)
                    self.data_rate = per if self.data_rate is None else min(self.data_rate, per)
                    rows.append([w, f'{sps:.0f}', f'{per:.0f}'])
                except Exception as e:  # noqa: BLE001
                    rows.append([w, err_text(e), ''])
        demand = []
        for (b, prec), s in sorted(self.step_s.items()):
            need = b / s
            workers_needed = f'{need / self.data_rate:.1f}' if self.data_rate else 'n/a'
            demand.append(f'batch {b} {prec}: {need:.3g} samples/s → {workers_needed} workers per GPU')
        return ('### Data pipeline (synthetic JPEG shards, CC3M/CC12M training transforms)\n\n' +
                md_table(['workers', 'samples/s', 'samples/s per worker'], rows) + '\n\nOne step\'s demand: ' +
                ('; '.join(demand) if demand else 'n/a (no training step measured)') + '.')

    # ------------------------------------------------------------------ 4. projections
    def projections(self) -> str:
        rows = []
        for (b, prec), s in sorted(self.step_s.items()):
            if b == 16 or self.args.smoke:
                rows.append([f'{SCHEDULE_ITERS:,}-iteration schedule, {b}/GPU, {prec}', f'{s:.3f} s/step × '
                             f'{SCHEDULE_ITERS:,}', hours(s * SCHEDULE_ITERS)])
        total_windows = sum(n * w for n, w in BENCHMARKS.values())
        for r in self.eval_rows:
            if r['mode'] == 'slide batched' and r['pamr']:
                per_window = r['seconds'] / (self.eval_images * 2)          # 2 windows per measured image
                rows.append([f'8-benchmark Table 1, {r["dtype"]}, slide batched + PAMR',
                             f'{total_windows:,} windows × {per_window * 1e3:.1f} ms',
                             hours(per_window * total_windows)])
        if not rows:
            rows.append(['n/a', 'no rates measured', ''])
        sizes = ', '.join(f'{k} {n:,}' for k, (n, _) in BENCHMARKS.items())
        return ('### Projected wall time (one GPU)\n\n' + md_table(['what', 'basis', 'projected'], rows) +
                f'\n\nVal sets ({sum(n for n, _ in BENCHMARKS.values()):,} images): {sizes}; windows per image at '
                'short side 448: 2 (Cityscapes 3); measured with 21 classes (COCO-Stuff\'s 171 make PAMR and the '
                'score maps larger).')


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    if args.device == 'auto':
        if not torch.cuda.is_available():
            print('gpu_check: no CUDA device here (torch.cuda.is_available() is False); nothing measured '
                  '(--device cpu --tiny --smoke runs every section on the CPU).')
            return 0
        args.device = 'cuda'
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    from common import describe_device, device_of, quiet
    import mmseg_code  # noqa: F401
    quiet()
    dev = device_of(args.device)
    check = Check(args, dev)
    print(f'## gpu_check: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, {describe_device(dev)}, '
          f'torch {torch.__version__}' + (f', CUDA {torch.version.cuda}' if dev.type == 'cuda' else '') +
          (' (smoke run: tiny sizes, numbers meaningless)' if args.smoke else '') + '\n', flush=True)
    for name, section in (('training step', check.train), ('zero-shot inference', check.zero_shot),
                          ('data pipeline', check.data), ('projections', check.projections)):
        if check.over_budget() and name != 'projections':
            print(f'### {name}\n\n{md_table(["status"], [["skipped: time budget --budget-s exceeded"]])}\n',
                  flush=True)
            continue
        t = time.perf_counter()
        try:
            text = section()
        except Exception as e:  # noqa: BLE001  (the table carries the error; the next section runs)
            traceback.print_exc(file=sys.stderr)
            text = f'### {name}\n\n' + md_table(['status'], [[err_text(e)]])
        print(text + f'\n\n({name}: {time.perf_counter() - t:.0f} s)\n', flush=True)
    print(f'total {time.perf_counter() - check.t0:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
