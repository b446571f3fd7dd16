"""One CoDe training step against the encoder passes the algorithm cannot avoid, measured side by side.

    python benchmarks/train_step.py                           # tiny CLIP, batch 2/4/8, CPU (or GPU if present)
    python benchmarks/train_step.py --arch vitb16 --batch 2 4  # ViT-B/16 architecture (pretrained=None)
    python benchmarks/train_step.py --arch shapes --profile    # + torch.profiler breakdown by module and op

The floor is the sum, on the same batch, of: the frozen image encoder forward (tokens before the last block), the
image segmenter forward+backward (copied block + decoder), the masked-image CLIP pass forward+backward (gradient to
the image, as the mask needs it), the KgCoOp noun prompts forward+backward (with their n' targets), the text segmenter
forward+backward, the highlighted-text CLIP pass forward+backward, and the optimizer step. The ratio step / floor is
the overhead of everything else (losses, masks, gathers, Python); target <= 1.15.

Timing: the step and the seven floor parts run round-robin (one repetition of each per round, medians reported),
so load drift on a shared machine affects both sides alike; the floor's optimizer step ends with ``zero_grad`` as
the step's ``update_params`` does. ``--profile`` adds a torch.profiler breakdown of one step (forward time per
module, top ops by self time).
"""
from __future__ import annotations

import argparse
import contextlib

import torch

from common import (ARCHS, build_model, describe_device, device_of, load_config, make_batch, set_threads,
                    timeit_interleaved)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--arch', choices=sorted(ARCHS), default='tiny')
    p.add_argument('--batch', type=int, nargs='+', default=[2, 4, 8])
    p.add_argument('--device', default='auto')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--repeat', type=int, default=3)
    p.add_argument('--amp', action='store_true', help='autocast (fp16 on CUDA, bf16 on CPU) for step and floor')
    p.add_argument('--profile', action='store_true', help='print a torch.profiler breakdown of one step')
    return p.parse_args()


def build(arch: str, dev):
    cfg_path, size = ARCHS[arch]
    cfg = load_config(cfg_path)
    model = build_model(cfg, dev)
    model.train()
    from mmengine.optim import build_optim_wrapper
    ow = dict(cfg.optim_wrapper)
    ow['type'] = 'OptimWrapper'
    ow.pop('loss_scale', None)
    import logging
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)     # one "skipped since requires_grad=False" line per frozen CLIP tensor
    try:
        optim = build_optim_wrapper(model, ow)
    finally:
        logger.setLevel(level)
    return cfg, size, model, optim


def floor_parts(model, inputs, samples, optim, autocast):
    """Closures for each unavoidable pass on this batch."""
    enc = model.clip.image_encoder
    te = model.clip.text_encoder
    dev = inputs.device
    with torch.no_grad(), autocast():
        tokens, grid = enc.forward_features(inputs)
    b = len(samples)
    nouns = [list(s.nouns) for s in samples]
    j = len(nouns[0])
    flat = [nouns[bi][ji] for ji in range(j) for bi in range(b)]
    image_index = torch.arange(b, device=dev).repeat(j)
    ids = torch.stack([s.text_ids for s in samples]).to(dev)
    eot = te.eot_index(ids)
    noun_valid = torch.stack([s.noun_valid for s in samples]).to(dev).bool()
    with torch.no_grad(), autocast():
        noun_emb = model.text_encoder.noun_prompt(flat).view(j, b, -1).transpose(0, 1).float()

    def image_encoder():
        with torch.no_grad(), autocast():
            enc.forward_features(inputs)

    def image_segmenter():
        with autocast():
            out = model.decode_head.dense_features(tokens, grid, normalize=False)
        out.float().sum().backward()

    def masked_image_pass():
        x = inputs[image_index].clone().requires_grad_(True)
        with autocast():
            e = enc.encode_image(x)
        e.float().sum().backward()

    def noun_prompts():
        with autocast():
            emb, _ = model.text_encoder.noun_prompt.forward_with_targets(flat)
        emb.float().sum().backward()

    def text_segmenter():
        with autocast():
            z = model.text_segmenter(ids, noun_emb, noun_valid)
        z.float().sum().backward()

    def highlighted_text_pass():
        with torch.no_grad():
            x = te.embed_tokens(ids)
        h = x.repeat(j, 1, 1).clone().requires_grad_(True)
        with autocast():
            e = te.encode_embeddings(h, eot.repeat(j))
        e.float().sum().backward()

    def optimizer_step():
        for p in model.parameters():
            if p.requires_grad and p.grad is None:
                p.grad = torch.zeros_like(p)
        optim.step()
        optim.zero_grad()       # as the step's update_params does (and no stale gradients reach the next step)

    parts = dict(image_encoder=image_encoder, image_segmenter=image_segmenter, masked_image_pass=masked_image_pass,
                 noun_prompts=noun_prompts, text_segmenter=text_segmenter, highlighted_text_pass=highlighted_text_pass,
                 optimizer_step=optimizer_step)
    if not getattr(model, 'co_decomposition', False):
        for k in ('text_segmenter', 'highlighted_text_pass'):
            parts.pop(k)
    return parts


def module_ranges(model):
    """Forward hooks that wrap the main sub-modules in profiler ranges (forward time per module)."""
    from torch.autograd.profiler import record_function
    names = ['clip.image_encoder', 'clip.text_encoder', 'decode_head', 'text_encoder.noun_prompt', 'text_segmenter',
             'word_prompt', 'region_prompt', 'loss_seg', 'kg_loss', 'text_seg_loss', 'hcl_loss']
    handles, stack = [], []
    for name in names:
        mod = model
        try:
            for part in name.split('.'):
                mod = getattr(mod, part)
        except AttributeError:
            continue
        if not isinstance(mod, torch.nn.Module):
            continue

        def pre(m, a, name=name):
            r = record_function(f'## {name}')
            r.__enter__()
            stack.append(r)

        def post(m, a, o):
            stack.pop().__exit__(None, None, None)
        handles += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    return handles


def main():
    args = parse_args()
    set_threads(args.threads)
    dev = device_of(args.device)
    cfg, size, model, optim = build(args.arch, dev)
    amp_dtype = torch.float16 if dev.type == 'cuda' else torch.bfloat16

    def autocast():
        return torch.autocast(dev.type, dtype=amp_dtype) if args.amp else contextlib.nullcontext()

    ntrain = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f'CoDe training step, arch={args.arch} ({cfg.model.clip.model_name}, {size}x{size}), '
          f'{ntrain / 1e6:.2f}M trainable, device {describe_device(dev)}, amp={args.amp}')
    keys = ('image_encoder', 'image_segmenter', 'masked_image_pass', 'noun_prompts', 'text_segmenter',
            'highlighted_text_pass', 'optimizer_step')
    print('seconds per step (median of --repeat, step and floor parts timed round-robin); '
          'overhead = step - floor\n')
    header = f'{"batch":>5} {"step s":>8} {"floor s":>8} {"ovh ms":>7} {"ratio":>6}  ' + '  '.join(
        ['img_enc', 'img_seg', 'masked', 'nouns', 'txt_seg', 'hl_text', 'optim'])
    print(header)
    for bs in args.batch:
        inputs, samples = make_batch(cfg, bs, size, dev)

        def step():
            with autocast():
                losses = model.loss(inputs, samples)
            parsed, _ = model.parse_losses(losses)
            optim.update_params(parsed)

        parts = floor_parts(model, inputs, samples, optim, autocast)
        times = timeit_interleaved(dict(step=step, **parts), dev, repeat=args.repeat)
        t_step = times.pop('step')
        optim.zero_grad()
        floor = sum(times.values())
        cols = '  '.join(f'{times.get(k, 0.0):7.3f}' for k in keys)
        print(f'{bs:>5} {t_step:8.3f} {floor:8.3f} {(t_step - floor) * 1e3:7.1f} {t_step / floor:6.2f}  {cols}  '
              f'(target ratio <= 1.15)', flush=True)

    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        bs = args.batch[-1]
        inputs, samples = make_batch(cfg, bs, size, dev)
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == 'cuda' else [])
        handles = module_ranges(model)
        with profile(activities=acts) as prof:
            with autocast():
                losses = model.loss(inputs, samples)
            parsed, _ = model.parse_losses(losses)
            optim.update_params(parsed)
            torch.cuda.synchronize() if dev.type == 'cuda' else None
        for h in handles:
            h.remove()
        sort = 'cuda_time_total' if dev.type == 'cuda' else 'self_cpu_time_total'
        events = prof.key_averages()
        mods = [e for e in events if e.key.startswith('## ')]
        print(f'\nprofiler, batch {bs}: forward time per module (inclusive; backward runs outside these ranges)')
        for e in sorted(mods, key=lambda e: -e.cpu_time_total):
            print(f'  {e.key[3:]:<22} {e.cpu_time_total / 1e3:9.1f} ms  x{e.count}')
        print('\ntop ops (forward + backward):')
        print(prof.key_averages().table(sort_by=sort, row_limit=25, max_name_column_width=40))


if __name__ == '__main__':
    main()
