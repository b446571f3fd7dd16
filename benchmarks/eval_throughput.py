"""Zero-shot inference throughput against a bare open_clip dense forward, measured side by side.

    python benchmarks/eval_throughput.py                      # tiny CLIP at 448x448 (CPU, or GPU if present)
    python benchmarks/eval_throughput.py --arch vitb16 --size 448 --batch 2
    python benchmarks/eval_throughput.py --arch shapes --size 64

Rows (images/s, median of --repeat runs, vocabulary embeddings cached as in a test loop):
* ``bare``: ``CLIPImageEncoder.encode_dense`` (open_clip ViT, MaskCLIP last block) on the same windows;
* ``model``: the segmentor's ``predict`` in whole mode without PAMR (the image segmenter, masks, KP branch,
  background plane, resize) — the ratio model/bare is the target (>= 0.9);
* ``+pamr``: the same with PAMR (its cost separately);
* ``slide``: sliding windows (crop = --size, stride = --size/2) on a 1 x 1.5 wide image, against the bare forward on
  the same number of windows.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from common import ARCHS, build_model, describe_device, device_of, load_config, set_threads, timeit


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--arch', choices=sorted(ARCHS), default='tiny')
    p.add_argument('--size', type=int, default=None, help='window side (default: 448, 64 for shapes)')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--classes', type=int, default=21, help='vocabulary size incl. background')
    p.add_argument('--device', default='auto')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--repeat', type=int, default=3)
    return p.parse_args()


def main():
    args = parse_args()
    set_threads(args.threads)
    dev = device_of(args.device)
    cfg_path, train_size = ARCHS[args.arch]
    size = args.size or (64 if args.arch == 'shapes' else 448)
    cfg = load_config(cfg_path)
    cfg.model.test_cfg.update(mode='whole', pamr=False)
    model = build_model(cfg, dev).eval()
    from mmseg.structures import SegDataSample
    names = ['background'] + [f'class{i}' for i in range(args.classes - 1)]
    model.set_vocabulary(names)
    enc = model.clip.image_encoder
    x = torch.randn(args.batch, 3, size, size, device=dev)
    metas = [dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size), padding_size=[0, 0, 0, 0])
             for _ in range(args.batch)]

    def samples():
        return [SegDataSample(metainfo=m) for m in metas]

    with torch.no_grad():
        model.vocabulary_embeddings()     # cached once, as in a test loop

    @torch.no_grad()
    def bare(inp=x):
        enc.encode_dense(inp)

    @torch.no_grad()
    def predict(inp=x, smp=None):
        model.predict(inp, smp or samples())

    print(f'zero-shot inference, arch={args.arch} ({cfg.model.clip.model_name}), {size}x{size}, batch {args.batch}, '
          f'{args.classes} classes, device {describe_device(dev)}')
    t_bare = timeit(bare, dev, repeat=args.repeat)
    model.test_cfg['pamr'] = False
    model.pamr = None
    t_model = timeit(predict, dev, repeat=args.repeat)
    from mmseg.registry import MODELS
    model.test_cfg['pamr'] = True
    model.pamr = MODELS.build(model.test_cfg['pamr_cfg']).to(dev)
    t_pamr = timeit(predict, dev, repeat=args.repeat)
    model.test_cfg['pamr'] = False
    model.pamr = None
    # sliding windows on a wider image: crop = size, stride = size / 2
    w = size * 3 // 2
    xw = torch.randn(args.batch, 3, size, w, device=dev)
    metas_w = [dict(img_shape=(size, w), ori_shape=(size, w), pad_shape=(size, w), padding_size=[0, 0, 0, 0])
               for _ in range(args.batch)]
    model.test_cfg.update(mode='slide', crop_size=(size, size), stride=(size // 2, size // 2))
    n_win = 1 * (((w - size) + size // 2 - 1) // (size // 2) + 1)
    t_slide = timeit(lambda: predict(xw, [SegDataSample(metainfo=m) for m in metas_w]), dev, repeat=args.repeat)
    t_bare_win = timeit(lambda: [bare(xw[..., :size]) for _ in range(n_win)], dev, repeat=args.repeat)
    model.test_cfg.update(mode='whole')
    ips = lambda t: args.batch / t  # noqa: E731
    print(f'{"":<28}{"img/s":>9}{"ratio":>8}')
    print(f'{"bare open_clip dense":<28}{ips(t_bare):9.2f}{1.0:8.2f}')
    print(f'{"model, no PAMR":<28}{ips(t_model):9.2f}{t_bare / t_model:8.2f}   (target >= 0.9)')
    print(f'{"model + PAMR":<28}{ips(t_pamr):9.2f}{t_bare / t_pamr:8.2f}   (PAMR adds {(t_pamr - t_model) / args.batch * 1e3:.1f} ms/img)')
    print(f'{"bare, " + str(n_win) + " windows " + f"{size}x{w}":<28}{ips(t_bare_win):9.2f}{1.0:8.2f}')
    print(f'{"model slide, no PAMR":<28}{ips(t_slide):9.2f}{t_bare_win / t_slide:8.2f}   (sliding costs {t_slide / t_model:.2f}x whole)')


if __name__ == '__main__':
    main()
