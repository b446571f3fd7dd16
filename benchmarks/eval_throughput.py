"""Zero-shot inference throughput of the inference modes, and the harness overhead over the unavoidable model work.

    python benchmarks/eval_throughput.py --tiny                          # tiny CLIP, 96 px, seconds (CPU)
    python benchmarks/eval_throughput.py --arch vitb16 --size 448 --images 2
    python benchmarks/eval_throughput.py --arch vitb16 --dtypes fp32 --threads 1 --clock cpu   # on a shared CPU

Images are ``--images`` random images of ``S × 1.5S`` (S = ``--size``, the protocol's short side 448; random-init
weights: speed does not depend on them), ``--classes`` classes with a background, vocabulary embeddings cached as in
a test loop. Rows, each ± PAMR and for each ``--dtypes`` (``test_cfg.dtype``; default fp32 and the device's half
precision: fp16 on CUDA, bf16 on CPU):

* ``whole``: the whole image in one forward (``test_cfg.mode='whole'``);
* ``slide loop``: crop S, stride S/2 (2 windows per image), mmseg's window-by-window ``slide_inference``
  (``window_batch=1``);
* ``slide batched``: the same windows, all images' windows through the model ``--window-batch`` at a time.

The **harness overhead** of a row is its time ÷ the unavoidable model work on the same windows, batched the same way
and under the same dtype, timed directly: the frozen image encoder (L−1 blocks + the MaskCLIP read-out the KP branch
uses) + the decode head's forward (copied last block, gated decoder, projection). Everything else — the class scores,
KP mix, resizes, background plane, window stitching, post-processing (and PAMR in the ``+PAMR`` rows) — is overhead.
Target ≤ 1.10 (ViT-B/16 at 448, no PAMR). All rows and floors are timed round-robin (one run of each per round,
medians), so load drift on a shared machine hits them alike. ``--markdown`` prints the table in Markdown.
"""
from __future__ import annotations

import argparse
import time

import torch

from common import (ARCHS, build_model, describe_device, device_of, load_config, set_threads, timeit_interleaved)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--arch', choices=sorted(ARCHS), default='tiny')
    p.add_argument('--tiny', action='store_true', help='quick run: tiny CLIP at 96 px, 2 images, 1 round')
    p.add_argument('--size', type=int, default=None, help='short side S (default 448; 96 with --tiny)')
    p.add_argument('--images', type=int, default=2, help='images per batch')
    p.add_argument('--classes', type=int, default=21, help='vocabulary size incl. background')
    p.add_argument('--dtypes', nargs='+', default=None, choices=['fp32', 'fp16', 'bf16'],
                   help='test_cfg.dtype values (default: fp32 and fp16 on CUDA / bf16 on CPU)')
    p.add_argument('--window-batch', type=int, default=8)
    p.add_argument('--no-pamr-rows', action='store_true', help='skip the +PAMR rows')
    p.add_argument('--device', default='auto')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--repeat', type=int, default=None, help='rounds (default 3; 1 with --tiny)')
    p.add_argument('--markdown', action='store_true')
    p.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                   help="'cpu': this process's CPU seconds (time.process_time; CPU device, best with --threads 1): "
                        'ratios that hold on a CPU shared with other jobs')
    args = p.parse_args(argv)
    if args.tiny:
        args.arch = 'tiny'
        args.size = args.size or 96
    if args.repeat is None:
        args.repeat = 1 if args.tiny else 3
    return args


def build(arch: str, dev: torch.device, classes: int):
    cfg_path, _ = ARCHS[arch]
    cfg = load_config(cfg_path)
    cfg.model.test_cfg.update(mode='whole', pamr=False)
    model = build_model(cfg, dev).eval()
    model.set_vocabulary(['background'] + [f'class{i}' for i in range(classes - 1)])
    with torch.no_grad():
        model.text_encoder()                       # class embeddings cached once, as in a test loop
    return cfg, model


def modes_and_floors(model, x, size: int, window_batch: int, dtypes, pamr_rows: bool):
    """``(rows, floors)``: name → closure. Row names ``(mode, pamr, dtype)``; floor names ``(mode, dtype)``."""
    from mmseg_code.models.inference_options import autocast_for, slide_windows
    from mmseg.structures import SegDataSample
    dev = x.device
    n, _, h, w = x.shape
    crop, stride = (size, size), (size // 2, size // 2)
    metas = [dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), padding_size=[0, 0, 0, 0])
             for _ in range(n)]
    boxes = slide_windows(h, w, crop, stride)
    windows = torch.stack([x[b, :, y1:y2, x1:x2] for (y1, y2, x1, x2) in boxes for b in range(n)])
    mode_cfg = {'whole': dict(mode='whole'),
                'slide loop': dict(mode='slide', crop_size=crop, stride=stride, window_batch=1),
                'slide batched': dict(mode='slide', crop_size=crop, stride=stride, window_batch=window_batch)}

    def row(mode, pamr, dtype):
        @torch.no_grad()
        def run():
            model.test_cfg.update(mode_cfg[mode], pamr=pamr, dtype=dtype)
            model.predict(x, [SegDataSample(metainfo=m) for m in metas])
        return run

    def work(inp, dtype):
        with autocast_for(dev, dtype):
            model.decode_head.forward(model.image_encoder(inp))

    def floor(mode, dtype):
        @torch.no_grad()
        def run():
            if mode == 'whole':
                work(x, dtype)
            elif mode == 'slide loop':
                for k in range(len(boxes)):
                    work(windows[k * n:(k + 1) * n], dtype)
            else:
                for s in range(0, len(windows), window_batch):
                    work(windows[s:s + window_batch], dtype)
        return run

    rows, floors = {}, {}
    for dtype in dtypes:
        for mode in mode_cfg:
            for pamr in ((False, True) if pamr_rows else (False,)):
                rows[(mode, pamr, dtype)] = row(mode, pamr, dtype)
            floors[(mode, dtype)] = floor(mode, dtype)
    return rows, floors, len(boxes)


def measure(model, dev, size: int, images: int, window_batch: int, dtypes, pamr_rows: bool = True,
            warmup: int = 1, repeat: int = 3, seed: int = 0, clock: str = 'wall') -> tuple[list, int]:
    """Time every row and floor round-robin; returns ``(results, windows per image)``, results a list of dicts
    ``mode, pamr, dtype, seconds, img_s, floor_s, overhead``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(images, 3, size, size * 3 // 2, generator=g).to(dev)
    rows, floors, n_win = modes_and_floors(model, x, size, window_batch, dtypes, pamr_rows)
    fns = {('row',) + k: f for k, f in rows.items()}
    fns.update({('floor',) + k: f for k, f in floors.items()})
    saved = dict(model.test_cfg)
    try:
        if clock == 'cpu' and dev.type != 'cpu':
            raise ValueError("--clock cpu measures CPU seconds: only for --device cpu")
        t = timeit_interleaved(fns, dev, warmup=warmup, repeat=repeat,
                               clock=time.process_time if clock == 'cpu' else time.perf_counter)
    finally:
        model.test_cfg.update(saved)
    out = []
    for (mode, pamr, dtype) in rows:
        sec, fl = t[('row', mode, pamr, dtype)], t[('floor', mode, dtype)]
        out.append(dict(mode=mode, pamr=pamr, dtype=dtype, seconds=sec, img_s=images / sec, floor_s=fl,
                        overhead=sec / fl))
    return out, n_win


def format_table(results: list, images: int, markdown: bool = False) -> str:
    head = ['mode', 'PAMR', 'dtype', 'img/s', 'ms/img', 'floor ms/img', 'overhead (÷ floor)']
    lines = []
    body = [[r['mode'], 'on' if r['pamr'] else 'off', r['dtype'], f"{r['img_s']:.3g}",
             f"{r['seconds'] / images * 1e3:.1f}", f"{r['floor_s'] / images * 1e3:.1f}", f"{r['overhead']:.2f}"]
            for r in results]
    if markdown:
        lines.append('| ' + ' | '.join(head) + ' |')
        lines.append('|' + '|'.join(['---'] * 3 + ['---:'] * 4) + '|')
        lines += ['| ' + ' | '.join(b) + ' |' for b in body]
    else:
        widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
        lines.append('  '.join(f'{c:<{w}}' if i < 3 else f'{c:>{w}}' for i, (c, w) in enumerate(zip(head, widths))))
        lines += ['  '.join(f'{c:<{w}}' if i < 3 else f'{c:>{w}}' for i, (c, w) in enumerate(zip(b, widths)))
                  for b in body]
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    dev = device_of(args.device)
    size = args.size or 448
    dtypes = args.dtypes or ['fp32', 'fp16' if dev.type == 'cuda' else 'bf16']
    cfg, model = build(args.arch, dev, args.classes)
    results, n_win = measure(model, dev, size, args.images, args.window_batch, dtypes, not args.no_pamr_rows,
                             args.warmup, args.repeat, clock=args.clock)
    print(f'zero-shot inference, arch={args.arch} ({cfg.model.clip.model_name}, random init), {args.images} images of '
          f'{size}x{size * 3 // 2}, {args.classes} classes, KP mix {model.test_cfg["kp_weight"]}, slide crop {size} '
          f'stride {size // 2} ({n_win} windows/image), window_batch {args.window_batch}, device '
          f'{describe_device(dev)}; medians of {args.repeat} round-robin runs after {args.warmup} warm-up'
          f'{", CPU seconds (process_time)" if args.clock == "cpu" else ""}\n')
    print(format_table(results, args.images, args.markdown))
    print('\noverhead = row time ÷ (frozen image encoder + decode head forward on the same windows, same batching '
          'and dtype); target <= 1.10 without PAMR (ViT-B/16 at 448)')
    return results


if __name__ == '__main__':
    main()
