"""Peak training memory per sample of CoDe (ViT-B/16 at 224 by default), with and without AMP and activation
checkpointing, and the implied largest batch per 11 GB GPU (the paper trains 16 per 2080 Ti).

    python benchmarks/memory.py                       # ViT-B/16 architecture (pretrained=None), batches 2 and 4
    python benchmarks/memory.py --arch tiny --batch 2 8

Each (mode, batch) runs in a fresh subprocess: two full training steps (forward, backward, AdamW); the peak is
``torch.cuda.max_memory_allocated`` on a GPU, and the peak resident set size above the after-build baseline on a CPU
(an upper bound: it includes allocator slack). Per-sample memory = slope between the two batch sizes; fixed memory =
the rest (weights, optimizer state, workspace). AMP = autocast fp16 (CUDA) / bf16 (CPU). Activation checkpointing =
every CLIP block run under ``torch.utils.checkpoint`` in the passes that need gradients (the masked-image pass, the
highlighted-text and prompt passes), set up by this script (the plugin has no switch for it yet).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys

import torch

from common import ARCHS, build_model, describe_device, device_of, load_config, make_batch, set_threads

GB = 1024 ** 3


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--arch', choices=sorted(ARCHS), default='vitb16')
    p.add_argument('--batch', type=int, nargs=2, default=[2, 4])
    p.add_argument('--device', default='auto')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--modes', nargs='+', default=['fp32', 'amp', 'ckpt', 'amp+ckpt'])
    p.add_argument('--gpu-gb', type=float, default=11.0)
    p.add_argument('--child', nargs=2, metavar=('MODE', 'BATCH'), help=argparse.SUPPRESS)
    return p.parse_args()


def rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def enable_checkpointing(model) -> None:
    model.clip.set_grad_checkpointing(True)  # = model.clip.grad_checkpointing=True in a config


def child(args) -> None:
    mode, bs = args.child[0], int(args.child[1])
    set_threads(args.threads)
    dev = device_of(args.device)
    cfg_path, size = ARCHS[args.arch]
    cfg = load_config(cfg_path)
    model = build_model(cfg, dev).train()
    if 'ckpt' in mode:
        enable_checkpointing(model)
    from mmengine.optim import build_optim_wrapper
    ow = dict(cfg.optim_wrapper)
    ow['type'] = 'OptimWrapper'
    ow.pop('loss_scale', None)
    optim = build_optim_wrapper(model, ow)
    inputs, samples = make_batch(cfg, bs, size, dev)
    amp_dtype = torch.float16 if dev.type == 'cuda' else torch.bfloat16
    ctx = (lambda: torch.autocast(dev.type, dtype=amp_dtype)) if 'amp' in mode else contextlib.nullcontext
    if dev.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = rss_bytes()
    for _ in range(2):
        with ctx():
            losses = model.loss(inputs, samples)
        parsed, _ = model.parse_losses(losses)
        optim.update_params(parsed)
    if dev.type == 'cuda':
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(dict(peak=peak, base=base, device=describe_device(dev))))


def main():
    args = parse_args()
    if args.child:
        return child(args)
    b1, b2 = args.batch
    print(f'CoDe training memory, arch={args.arch} ({ARCHS[args.arch][0]}), batches {b1} and {b2}')
    print(f'{"mode":<10}{"peak@" + str(b1) + " GB":>12}{"peak@" + str(b2) + " GB":>12}{"GB/sample":>11}'
          f'{"fixed GB":>10}{"max batch/" + str(int(args.gpu_gb)) + "GB":>16}')
    dev_desc = None
    for mode in args.modes:
        peaks = []
        for bs in (b1, b2):
            cmd = [sys.executable, __file__, '--arch', args.arch, '--device', args.device, '--child', mode, str(bs)]
            if args.threads:
                cmd += ['--threads', str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            lines = [ln for ln in out.stdout.splitlines() if ln.startswith('{')]
            if out.returncode or not lines:
                print(f'{mode:<10} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "?"}')
                break
            rec = json.loads(lines[-1])
            dev_desc = rec['device']
            peaks.append(rec['peak'] - (rec['base'] if 'cuda' in rec['device'] else 0))
        if len(peaks) != 2:
            continue
        per = max((peaks[1] - peaks[0]) / (b2 - b1), 1)
        fixed = peaks[0] - b1 * per
        max_b = int((args.gpu_gb * GB - fixed) // per)
        print(f'{mode:<10}{peaks[0] / GB:12.2f}{peaks[1] / GB:12.2f}{per / GB:11.3f}{fixed / GB:10.2f}{max_b:16d}',
              flush=True)
    print(f'device: {dev_desc}' + ('' if dev_desc and 'cuda' in dev_desc else
                                    '  (CPU: peak RSS of the process, weights and interpreter included)'))


if __name__ == '__main__':
    main()
