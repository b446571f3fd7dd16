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

The rows of each table are timed round-robin (one run of each per round), so load drift on a shared machine hits
all of them alike. Then a per-part breakdown of the model's forward (backbone, the masker's copied block, the gated
decoder, projection, masks, KP branch, resize/argmax, PAMR) and the matmul/conv FLOPs of bare and model: the image
segmenter (a copied last block plus a gated conv decoder at stride 4, 768 channels for ViT-B/16) is work the method
adds on top of the backbone, so the FLOP ratio bare/model says how much of the gap is inherent work (on CPU the
convs run at a higher FLOP rate than the ViT blocks, so the measured time ratio can sit above it).
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from common import (ARCHS, build_model, describe_device, device_of, load_config, set_threads, flops_of,
                    timeit_interleaved)


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
    from mmseg.registry import MODELS
    pamr = MODELS.build(dict(model.test_cfg['pamr_cfg'])).to(dev)

    def with_pamr(fn):
        def run():
            model.test_cfg['pamr'], model.pamr = True, pamr
            try:
                fn()
            finally:
                model.test_cfg['pamr'], model.pamr = False, None
        return run

    # whole-image rows, timed round-robin (same load drift for every row)
    model.test_cfg['pamr'], model.pamr = False, None
    t = timeit_interleaved(dict(bare=bare, model=predict, pamr=with_pamr(predict)), dev, repeat=args.repeat)
    t_bare, t_model, t_pamr = t['bare'], t['model'], t['pamr']

    # per-part breakdown of the model's forward (each part on the previous part's output, no PAMR)
    seg = model.image_segmenter
    from mmseg_code.models.clip.image_encoder import self_attention_block
    from mmseg_code.models.vocab import reduce_synonyms
    with torch.no_grad():
        tokens, grid = enc.forward_features(x)
        blk = self_attention_block(seg.block, tokens)
        b_, _, c_ = blk.shape
        fmap = blk[:, 1:].transpose(1, 2).reshape(b_, c_, grid[0], grid[1])
        dec = seg.decoder(fmap)
        feats = F.normalize(seg.image_proj(dec), dim=1, eps=1e-6)
        emb = model.vocabulary_embeddings()
        k = len(model.vocabulary.names)
        masks = reduce_synonyms(seg.sim2mask(feats, emb['masker'], feats_normalized=True)[1], emb['syn2cls'], k)
    kp_w = model.test_cfg['kp_weight']

    @torch.no_grad()
    def kp_branch():
        dense = enc.project(self_attention_block(enc.blocks[-1], tokens)[:, 1:])
        dense = dense.transpose(1, 2).reshape(args.batch, -1, grid[0], grid[1])
        kp = torch.sigmoid(model.test_cfg['kp_w'] * seg.sim2mask.similarity(dense, emb['kp']) + model.test_cfg['kp_b'])
        kp = F.interpolate(reduce_synonyms(kp, emb['syn2cls'], k).float(), size=masks.shape[-2:], mode='bilinear')
        return kp_w * kp + (1.0 - kp_w) * masks

    @torch.no_grad()
    def resize_and_post():
        m = F.interpolate(masks, size=x.shape[-2:], mode='bilinear', align_corners=False)
        m = torch.cat([m.new_full((m.shape[0], 1) + m.shape[2:], model.bg_thresh), m], dim=1)
        model.postprocess_result(m, samples())

    parts = {
        'backbone (L-1 blocks)': lambda: enc.forward_features(x),
        'masker block (self-attn)': lambda: self_attention_block(seg.block, tokens),
        'decoder (2 gated convs, x4)': lambda: seg.decoder(fmap),
        'proj + normalise': lambda: F.normalize(seg.image_proj(dec), dim=1, eps=1e-6),
        'sim2mask + synonyms': lambda: reduce_synonyms(seg.sim2mask(feats, emb['masker'], feats_normalized=True)[1],
                                                       emb['syn2cls'], k),
        'KP branch (MaskCLIP)': kp_branch if kp_w > 0 else (lambda: None),
        'resize + bg + argmax': resize_and_post,
        'PAMR (10 iterations)': lambda: pamr(F.interpolate(x, size=masks.shape[-2:], mode='bilinear',
                                                           align_corners=True), masks),
    }
    with torch.no_grad():
        tp = timeit_interleaved({n: (lambda f=f: f()) for n, f in parts.items()}, dev, repeat=args.repeat)
        fl_bare = flops_of(bare)
        fl_model = flops_of(predict)
        fl_dec = flops_of(lambda: seg.decoder(fmap))
        fl_dec_ref = flops_of(lambda: seg.decoder.forward_reference(fmap))

    # sliding windows on a wider image: crop = size, stride = size / 2
    w = size * 3 // 2
    xw = torch.randn(args.batch, 3, size, w, device=dev)
    metas_w = [dict(img_shape=(size, w), ori_shape=(size, w), pad_shape=(size, w), padding_size=[0, 0, 0, 0])
               for _ in range(args.batch)]
    n_win = 1 * (((w - size) + size // 2 - 1) // (size // 2) + 1)

    def slide():
        model.test_cfg.update(mode='slide', crop_size=(size, size), stride=(size // 2, size // 2))
        try:
            predict(xw, [SegDataSample(metainfo=m) for m in metas_w])
        finally:
            model.test_cfg.update(mode='whole')

    ts = timeit_interleaved(dict(slide=slide, bare_win=lambda: [bare(xw[..., :size]) for _ in range(n_win)],
                                 whole=predict), dev, repeat=args.repeat)
    t_slide, t_bare_win = ts['slide'], ts['bare_win']
    ips = lambda t: args.batch / t  # noqa: E731
    ms = lambda t: t / args.batch * 1e3  # noqa: E731
    print(f'\n{"":<30}{"img/s":>9}{"ms/img":>9}{"ratio":>8}')
    print(f'{"bare open_clip dense":<30}{ips(t_bare):9.2f}{ms(t_bare):9.1f}{1.0:8.2f}')
    print(f'{"model, no PAMR":<30}{ips(t_model):9.2f}{ms(t_model):9.1f}{t_bare / t_model:8.2f}   (target >= 0.9)')
    print(f'{"model + PAMR":<30}{ips(t_pamr):9.2f}{ms(t_pamr):9.1f}{t_bare / t_pamr:8.2f}   '
          f'(PAMR adds {ms(t_pamr - t_model):.1f} ms/img)')
    print(f'{"bare, " + str(n_win) + " windows " + f"{size}x{w}":<30}{ips(t_bare_win):9.2f}{ms(t_bare_win):9.1f}'
          f'{1.0:8.2f}')
    print(f'{"model slide, no PAMR":<30}{ips(t_slide):9.2f}{ms(t_slide):9.1f}{t_bare_win / t_slide:8.2f}   '
          f'(sliding costs {t_slide / ts["whole"]:.2f}x whole, {ms(t_slide - ts["whole"]):.1f} ms/img more)')
    total = sum(v for n, v in tp.items() if not n.startswith('PAMR'))
    print(f'\nper-part breakdown of the model forward (ms/img; sum {ms(total):.1f}, bare = backbone + MaskCLIP '
          f'last block + proj):')
    for n, v in tp.items():
        print(f'  {n:<30}{ms(v):9.1f}')
    print(f'\nFLOPs per image (matmul/conv, torch.utils.flop_counter): bare {fl_bare / args.batch / 1e9:.2f} G, '
          f'model {fl_model / args.batch / 1e9:.2f} G (decoder {fl_dec / args.batch / 1e9:.2f} G; the plain '
          f'upsample-then-conv decoder would be {fl_dec_ref / args.batch / 1e9:.2f} G)')
    print(f'FLOP ratio bare/model = {fl_bare / fl_model:.2f} (convs run at a higher FLOP rate than the ViT, so the time '
          f'ratio can exceed it): the image segmenter (copied block + decoder at '
          f'stride 4) is work the method adds on top of the backbone.')


if __name__ == '__main__':
    main()
