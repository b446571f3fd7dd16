"""Contrastive pre-training of a small open_clip CLIP on synthetic shapes image-caption shards.

It stands in for the pretrained CLIP a real user downloads: TCL and CoDe start from a frozen CLIP, and on a CPU-only
machine without weights the plugin's main job starts from this one. The committed ``checkpoints/shapes_clip.pth`` is
reproduced by (4000 steps, about 30 minutes on one idle CPU core; the shards are generated first when missing)::

    OMP_NUM_THREADS=1 python tools/pretrain_clip.py --out checkpoints/shapes_clip.pth

What it does:

* data: ``<data>/shards/*.tar`` written by ``tools/dataset_converters/make_synthetic_shapes.py`` (generated with the
  shapes defaults at 64 px, seed 0, split 0 when missing), read directly (``.jpg`` + ``.txt``) and decoded once into
  memory. The benchmark images (split 1) are never seen.
* augmentation: horizontal flip (captions name only vertical relations, so they stay true); with probability
  ``--gray-prob`` a grey-scale image whose caption loses its colour words (without it colour explains most captions
  and shape is never learnt in this budget); with probability
  ``--subcaption-prob`` the caption is replaced by one of its noun phrases ("a red circle"), optionally without its
  adjectives, wrapped in a prompt template (CLIP's ImageNet templates or a plain one). Web captions of real CLIP data
  are this varied; without it the text tower never sees a single-noun prompt like "a photo of a circle.". With
  ``--object-prompt-prob`` each image brings one more such object prompt, and identical texts of a batch are merged
  into one candidate true of all their images (``batch_texts``).
* shape curriculum: for the first ``--shape-curriculum`` fraction of the steps every image is grey and every text an
  object prompt without colour ("a photo of a star."), so shape is the only signal. Measured here: without it shape
  stayed at chance for 1800 steps (zero-shot 27.5% on one-object images, chance 25%); with it (0.2 of 4000 steps)
  zero-shot shape accuracy was 31% at step 500, 76% at 1000, 87% at 1500, 96% at 2000.
* loss: the standard symmetric CLIP InfoNCE with a learnable temperature, with multi-positive soft targets: a text
  that is true of another image of the batch ("a photo of a circle." for every image with a circle) is a positive of
  that image, not a false negative (see ``positives``).
* optimiser: AdamW (no weight decay on gains, biases, embeddings, temperature), linear warm-up + cosine, fixed step
  count; deterministic under ``--seed`` for a fixed thread count.
* output: an open_clip state dict (under ``state_dict``, plus a ``meta`` dict with the arguments and evaluation
  figures) loadable by ``OpenCLIP(model_name='mmcode-shapes-vit', pretrained=<path>)``. Stored in fp16 by default
  (loading casts to fp32); token-embedding rows of BPE tokens never seen in training are zeroed (they carry only
  their random init) so that the file compresses well in git.
* evaluation (``--eval-only`` for an existing checkpoint) on held-out pairs of the benchmark split: caption retrieval,
  zero-shot shape classification of one-object images, and a MaskCLIP dense read-out
  (``CLIPImageEncoder.encode_dense`` cosine with "a photo of a {shape}." embeddings): argmax over the shapes on
  ground-truth foreground pixels, and thresholded mIoU (background below the best global threshold of a sweep).
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import math
import os
import os.path as osp
import re
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn.functional as F

MODEL_NAME = 'mmcode-shapes-vit'
# ImageNet mean/std on 0..255, as the segmentors' SegDataPreProcessor (TCL's convention).
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)
PLAIN_TEMPLATES = ['{}', 'a {}.', 'a photo of a {}.', 'an image of a {}.', 'a picture of the {}.', 'the {}.']
RELATION_SPLIT = re.compile(r',\s*and\s+|,\s*|\s+and\s+|\s+above\s+|\s+below\s+|\s+beside\s+')
ARTICLES = ('a', 'an', 'the')


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Contrastive pre-training of a small CLIP on synthetic shapes captions.')
    p.add_argument('--data', default='data/shapes_pretrain', help='root with shards/*.tar (generated when missing)')
    p.add_argument('--num-train', type=int, default=30000, help='pairs to generate when the shards are missing')
    p.add_argument('--model', default=MODEL_NAME, help='open_clip architecture (plugin model_configs included)')
    p.add_argument('--out', default='checkpoints/shapes_clip.pth', help='output checkpoint')
    p.add_argument('--steps', type=int, default=4000)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--weight-decay', type=float, default=0.1)
    p.add_argument('--warmup', type=float, default=0.05, help='warm-up fraction of the steps')
    p.add_argument('--subcaption-prob', type=float, default=0.6)
    p.add_argument('--shape-curriculum', type=float, default=0.2,
                   help='fraction of the steps at the start with only grey images and object-phrase prompts (their '
                        'colour words dropped): the only signal is shape, which breaks its long plateau')
    p.add_argument('--curriculum-templates', choices=('all', 'plain'), default='all',
                   help="prompt templates during the shape curriculum: all, or only the 6 plain ones ('a {}.')")
    p.add_argument('--object-prompt-prob', type=float, default=1.0,
                   help='per image, probability of one extra text: an object phrase of its caption in a template')
    p.add_argument('--gray-prob', type=float, default=0.5,
                   help='grey-scale images whose captions lose their colour words (colour cannot explain them)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=int(os.environ.get('OMP_NUM_THREADS', '1') or 1))
    p.add_argument('--eval-every', type=int, default=500, help='evaluate every N steps (0: only at the end)')
    p.add_argument('--num-eval', type=int, default=500, help='held-out benchmark-split images to evaluate on')
    p.add_argument('--fp32', action='store_true', help='store fp32 weights (default fp16)')
    p.add_argument('--eval-only', metavar='CKPT', help='evaluate an existing checkpoint and exit')
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------------------------- data
def ensure_shards(root: str, num_train: int) -> list[str]:
    shards = sorted(glob.glob(osp.join(root, 'shards', '*.tar')))
    if shards:
        return shards
    from mmseg_code.datasets.synthetic_shapes import ShapesConfig, write_caption_shards
    print(f'[pretrain_clip] no shards under {root}/shards: generating {num_train} pairs (64 px, seed 0)', flush=True)
    return sorted(write_caption_shards(ShapesConfig(image_size=64, seed=0), osp.join(root, 'shards'), num_train))


def load_shards(shards: list[str], image_size: int) -> tuple[torch.Tensor, list[str]]:
    """All (image, caption) pairs of the shards: uint8 ``N×3×S×S`` and captions, in shard/key order."""
    import cv2
    from tqdm import tqdm
    images, captions = [], []
    for path in tqdm(shards, desc='read shards', unit='shard'):
        samples: dict[str, dict] = {}
        with tarfile.open(path) as tar:
            for m in tar:
                if not m.isfile():
                    continue
                key, _, ext = m.name.partition('.')
                if ext in ('jpg', 'txt'):
                    samples.setdefault(key, {})[ext] = tar.extractfile(m).read()
        for key in sorted(samples):
            s = samples[key]
            if 'jpg' not in s or 'txt' not in s:
                continue
            img = cv2.imdecode(np.frombuffer(s['jpg'], np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
            if img.shape[:2] != (image_size, image_size):
                img = cv2.resize(img, (image_size, image_size), interpolation=cv2.INTER_AREA)
            images.append(np.ascontiguousarray(img.transpose(2, 0, 1)))
            captions.append(s['txt'].decode('utf-8').strip())
    return torch.from_numpy(np.stack(images)), captions


def normalise(images_u8: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images_u8.float() - mean) / std


def noun_phrases(caption: str) -> list[str]:
    return [p.strip(' .') for p in RELATION_SPLIT.split(caption.strip(' .')) if p.strip(' .')]


def drop_colours(caption: str) -> str:
    """The caption without colour adjectives ("a red circle above a blue square" -> "a circle above a square")."""
    from mmseg_code.datasets.synthetic_shapes import COLOURS
    words = [w for w in caption.split() if w.strip(',.').lower() not in COLOURS]
    out = ' '.join(words)
    return re.sub(r'\ban ([^aeiou])', r'a \1', out)


def phrase_words(phrase: str) -> frozenset:
    return frozenset(w for w in phrase.lower().split() if w not in ARTICLES)


def subcaption(caption: str, rng: np.random.Generator, templates: list[str]) -> tuple[str, frozenset]:
    """One noun phrase of the caption, maybe without adjectives, in a random template; also its content words."""
    phrases = noun_phrases(caption)
    words = phrases[int(rng.integers(len(phrases)))].split()
    if words and words[0].lower() in ARTICLES:
        words = words[1:]
    if len(words) > 1 and rng.random() < 0.5:
        words = words[-1:]
    return templates[int(rng.integers(len(templates)))].format(' '.join(words)), frozenset(w.lower() for w in words)


def positives(truths: list[list[frozenset]], contents: list[list[frozenset]],
              sources: list[set[int]] | None = None) -> torch.Tensor:
    """``pos[i, j]`` (images × texts): text j is true of image i — image i is one of its ``sources`` (the images it was
    written for; default: text j was written for image j) or each of its noun phrases is part of an object phrase of
    image i's caption, e.g. "a photo of a circle." for every image with a circle; relations are ignored. Without it,
    the same noun in two images' texts would be a false negative that punishes exactly the shape evidence."""
    if sources is None:
        sources = [{j} for j in range(len(contents))]
    pos = torch.zeros(len(truths), len(contents), dtype=torch.bool)
    for i, truth in enumerate(truths):
        for j, content in enumerate(contents):
            pos[i, j] = i in sources[j] or all(any(c <= t for t in truth) for c in content)
    return pos


def batch_texts(truths: list[str], rng: np.random.Generator, templates: list[str], subcaption_prob: float,
                object_prompt_prob: float) -> tuple[list[str], list[list[frozenset]], list[set[int]]]:
    """The texts of one batch: per image its caption or (with ``subcaption_prob``) one of its noun phrases in a
    template, and with ``object_prompt_prob`` one more such phrase prompt; identical texts are merged (one column of
    the logits, with all its source images), so "a photo of a circle." is one candidate true of every circle image
    rather than several copies that are each other's false negatives. Returns texts, their contents, their sources."""
    index: dict[str, int] = {}
    texts, contents, sources = [], [], []

    def add(text: str, content: list[frozenset], i: int) -> None:
        if text in index:
            sources[index[text]].add(i)
            return
        index[text] = len(texts)
        texts.append(text)
        contents.append(content)
        sources.append({i})

    for i, t in enumerate(truths):
        if rng.random() < subcaption_prob:
            text, content = subcaption(t, rng, templates)
            add(text, [content], i)
        else:
            add(t, [phrase_words(p) for p in noun_phrases(t)], i)
        if object_prompt_prob > 0 and rng.random() < object_prompt_prob:
            text, content = subcaption(t, rng, templates)
            add(text, [content], i)
    return texts, contents, sources


# ---------------------------------------------------------------------------------------------------------- model
def build_model(name: str, pretrained: str | None = None) -> torch.nn.Module:
    from mmseg_code.models.clip import build_open_clip
    return build_open_clip(name, pretrained)


def clip_loss(img: torch.Tensor, txt: torch.Tensor, logit_scale: torch.Tensor,
              same: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE; ``same[i, j]`` marks text j as true of image i (soft multi-positive targets)."""
    img = F.normalize(img, dim=-1)
    txt = F.normalize(txt, dim=-1)
    logits = logit_scale.exp().clamp(max=100) * img @ txt.t()
    target = same.float()
    loss_i = -((target / target.sum(1, keepdim=True)) * logits.log_softmax(1)).sum(1).mean()
    target_t = target.t()
    loss_t = -((target_t / target_t.sum(1, keepdim=True)) * logits.t().log_softmax(1)).sum(1).mean()
    return (loss_i + loss_t) / 2


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or 'embedding' in name or 'logit_' in name or name.endswith(('class_embedding', 'bias')):
            no_decay.append(p)
        else:
            decay.append(p)
    return [dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0)]


# ----------------------------------------------------------------------------------------------------- evaluation
def held_out(num: int, image_size: int = 64):
    """Benchmark-split samples (split 1 of the generator, the images of the synthetic benchmark)."""
    from mmseg_code.datasets.synthetic_shapes import ShapesConfig, generate_sample
    cfg = ShapesConfig(image_size=image_size, seed=0)
    imgs, labels, caps, nobj = [], [], [], []
    for i in range(num):
        img, label, cap, objects = generate_sample(cfg, 1, i)
        imgs.append(img.transpose(2, 0, 1))
        labels.append(label)
        caps.append(cap)
        nobj.append(len(objects))
    return (torch.from_numpy(np.stack(imgs)), torch.from_numpy(np.stack(labels)).long(), caps,
            np.array(nobj), cfg.class_names)


def miou(pred: torch.Tensor, gt: torch.Tensor, num_classes: int, classes=None) -> float:
    cm = torch.bincount(gt.flatten() * num_classes + pred.flatten(), minlength=num_classes ** 2)
    cm = cm.view(num_classes, num_classes).double()
    inter = cm.diag()
    union = cm.sum(0) + cm.sum(1) - inter
    idx = list(range(num_classes)) if classes is None else list(classes)
    iou = inter[idx] / union[idx].clamp(min=1)
    return float(iou[union[idx] > 0].mean())


@torch.no_grad()
def evaluate(model: torch.nn.Module, tokenizer, num: int = 500, batch: int = 100) -> dict:
    from mmseg_code.models.clip import CLIPImageEncoder
    model.eval()
    imgs_u8, labels, caps, nobj, class_names = held_out(num, model.visual.image_size[0])
    shapes = class_names[1:]
    enc = CLIPImageEncoder(model.visual)
    img_emb, dense = [], []
    for i in range(0, num, batch):
        x = normalise(imgs_u8[i:i + batch])
        img_emb.append(F.normalize(model.encode_image(x), dim=-1))
        dense.append(F.normalize(enc.encode_dense(x), dim=1))
    img_emb, dense = torch.cat(img_emb), torch.cat(dense)
    uniq = sorted(set(caps))
    cap_emb = F.normalize(model.encode_text(tokenizer(uniq)), dim=-1)
    cap_idx = torch.tensor([uniq.index(c) for c in caps])
    i2t = (img_emb @ cap_emb.t()).argmax(1)
    i2t_acc = float((i2t == cap_idx).float().mean())
    # text -> image: for each unique caption, is the best image one with that caption?
    t2i = (cap_emb @ img_emb.t()).argmax(1)
    t2i_acc = float((cap_idx[t2i] == torch.arange(len(uniq))).float().mean())
    cls_emb = F.normalize(model.encode_text(tokenizer([f'a photo of a {s}.' for s in shapes])), dim=-1)
    # zero-shot shape classification of one-object images (label = the only foreground class)
    single = torch.from_numpy(nobj == 1)
    fg_cls = torch.stack([torch.bincount(lb.flatten(), minlength=len(class_names))[1:].argmax() for lb in labels])
    zs = (img_emb @ cls_emb.t()).argmax(1)
    zs_acc = float((zs[single] == fg_cls[single]).float().mean())
    # dense read-out (MaskCLIP value path)
    score = torch.einsum('bdhw,kd->bkhw', dense, cls_emb)
    score = F.interpolate(score, size=labels.shape[-2:], mode='bilinear', align_corners=False)
    best, arg = score.max(1)
    fg = labels > 0
    k = len(class_names)
    pred_fg = arg + 1
    acc_fg = float((pred_fg[fg] == labels[fg]).float().mean())
    miou_gt_bg = miou(torch.where(fg, pred_fg, torch.zeros_like(pred_fg)), labels, k)
    sweep = {}
    for q in np.linspace(0.05, 0.95, 19):
        t = float(torch.quantile(best.flatten()[::7], float(q)))
        sweep[round(float(q), 2)] = (miou(torch.where(best >= t, pred_fg, torch.zeros_like(pred_fg)), labels, k), t)
    q_best = max(sweep, key=lambda q: sweep[q][0])
    all_bg = miou(torch.zeros_like(labels), labels, k)
    model.train()
    return dict(i2t_top1=i2t_acc, t2i_top1=t2i_acc, unique_captions=len(uniq), zeroshot_shape_acc_1obj=zs_acc,
                dense_fg_pixel_acc=acc_fg, dense_miou_gt_background=miou_gt_bg,
                dense_miou_best_threshold=sweep[q_best][0], best_threshold_quantile=q_best,
                best_threshold=sweep[q_best][1], all_background_miou=all_bg,
                fg_fraction=float(fg.float().mean()), num_images=num)


def format_eval(m: dict) -> str:
    return (f"retrieval i2t {m['i2t_top1']:.1%} t2i {m['t2i_top1']:.1%} ({m['unique_captions']} captions) | "
            f"zero-shot shape (1 object) {m['zeroshot_shape_acc_1obj']:.1%} | dense: fg-pixel shape acc "
            f"{m['dense_fg_pixel_acc']:.1%}, mIoU GT-bg given {m['dense_miou_gt_background']:.3f}, "
            f"thresholded mIoU {m['dense_miou_best_threshold']:.3f} (q={m['best_threshold_quantile']}; "
            f"all-bg {m['all_background_miou']:.3f})")


# ----------------------------------------------------------------------------------------------------------- main
def save_checkpoint(model: torch.nn.Module, path: str, used_tokens: set[int], fp32: bool, meta: dict) -> None:
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    emb = sd['token_embedding.weight']
    keep = torch.zeros(emb.shape[0], dtype=torch.bool)
    keep[list(used_tokens)] = True
    emb[~keep] = 0
    if not fp32:
        sd = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    torch.save(dict(state_dict=sd, meta=meta), path)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    from mmseg_code.models.clip import build_tokenizer
    from tqdm import tqdm

    if args.eval_only:
        model = build_model(args.model, args.eval_only)
        tok = build_tokenizer(args.model, context_length=int(model.context_length))
        print(format_eval(evaluate(model, tok, args.num_eval)))
        return 0

    from mmseg_code.models.vocab import TEMPLATES
    templates = PLAIN_TEMPLATES + TEMPLATES['imagenet80'] + TEMPLATES['custom']
    early_templates = PLAIN_TEMPLATES if args.curriculum_templates == 'plain' else templates
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = build_model(args.model)
    tokenizer = build_tokenizer(args.model, context_length=int(model.context_length))
    size = model.visual.image_size[0]
    images, captions = load_shards(ensure_shards(args.data, args.num_train), size)
    n = len(captions)
    print(f'[pretrain_clip] {n} pairs, {args.model}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M '
          f'parameters, {args.steps} steps x batch {args.batch_size}, {torch.get_num_threads()} thread(s)',
          flush=True)
    opt = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    warm = max(1, int(args.warmup * args.steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) /
                                                                          max(1, args.steps - warm))))
    token_cache: dict[str, torch.Tensor] = {}
    used_tokens: set[int] = set()

    def tokenize(texts: list[str]) -> torch.Tensor:
        missing = [t for t in dict.fromkeys(texts) if t not in token_cache]
        if missing:
            for t, ids in zip(missing, tokenizer(missing)):
                token_cache[t] = ids
                used_tokens.update(ids.tolist())
        return torch.stack([token_cache[t] for t in texts])

    order = rng.permutation(n)
    pos, t0, history = 0, time.time(), []
    model.train()
    bar = tqdm(range(args.steps), desc='pretrain CLIP', unit='step', dynamic_ncols=True)
    for step in bar:
        if pos + args.batch_size > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos:pos + args.batch_size]
        pos += args.batch_size
        x = images[torch.from_numpy(idx)]
        flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        early = step < args.shape_curriculum * args.steps  # curriculum: grey images, object prompts only
        gray = rng.random(len(idx)) < (1.0 if early else args.gray_prob)
        g = torch.from_numpy(gray).view(-1, 1, 1, 1)
        x = torch.where(g, (x.float().mean(1, keepdim=True).expand_as(x) + 0.5).to(torch.uint8), x)
        truths = [drop_colours(captions[i]) if gr else captions[i] for i, gr in zip(idx, gray)]
        texts, contents, sources = batch_texts(truths, rng, early_templates if early else templates,
                                                 1.0 if early else args.subcaption_prob,
                                                 args.object_prompt_prob)
        truth_sets = [[phrase_words(p) for p in noun_phrases(t)] for t in truths]
        ids = tokenize(texts)
        same = positives(truth_sets, contents, sources)
        img_f = model.encode_image(normalise(x))
        txt_f = model.encode_text(ids)
        loss = clip_loss(img_f, txt_f, model.logit_scale, same)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        history.append(float(loss))
        if step % 10 == 0:
            bar.set_postfix(loss=f'{np.mean(history[-50:]):.3f}', T=f'{model.logit_scale.exp().item():.1f}',
                            lr=f'{sched.get_last_lr()[0]:.1e}')
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            tqdm.write(f'[step {step + 1}] ' + format_eval(evaluate(model, tokenizer, args.num_eval)))
    train_s = time.time() - t0
    metrics = evaluate(model, tokenizer, args.num_eval)
    print(f'[pretrain_clip] trained {args.steps} steps in {train_s / 60:.1f} min; final loss '
          f'{np.mean(history[-50:]):.3f}\n[pretrain_clip] ' + format_eval(metrics), flush=True)
    meta = dict(model_name=args.model, args={k: v for k, v in vars(args).items() if v is not None},
                train_seconds=round(train_s, 1), final_loss=float(np.mean(history[-50:])), eval=metrics,
                num_pairs=n, torch=str(torch.__version__))
    save_checkpoint(model, args.out, used_tokens, args.fp32, meta)
    with open(osp.splitext(args.out)[0] + '_log.json', 'w') as f:
        json.dump(dict(meta, loss_history=history[::10]), f)
    print(f'[pretrain_clip] wrote {args.out} ({osp.getsize(args.out) / 1e6:.1f} MB); load it with '
          f"OpenCLIP(model_name='{args.model}', pretrained='{args.out}')", flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
