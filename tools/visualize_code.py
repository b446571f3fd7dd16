"""What CoDe decomposes: per-noun region masks (image segmenter) and word masks (text segmenter) for one image-caption
pair, as in the CoDe paper's Fig. 1 / Fig. 4.

    python tools/visualize_code.py CONFIG CHECKPOINT IMAGE --caption "a dog chasing a ball on the grass" \
        [--nouns dog ball grass] [--out code_vis.png] [--size 448] [--pamr]

Top row: the image with each pixel coloured by its noun (argmax of the region masks, none where all are ≤ 0.5) and a
legend, then one panel per noun with its region mask M_v = σ(w·cos(V^s, n_j) + b) (n_j: the noun's KgCoOp-prompted
embedding, as in training; TCL models use the template ensemble). Bottom: the caption's tokens, one line per noun, each
token shaded in the noun's colour by its word mask M_t (Eq. 3, softmax over "no noun" + the J nouns; CoDe models
only).
Without ``--nouns`` the nouns are tagged from the caption (the plugin's tagger). ``CHECKPOINT`` may be ``none``.
Works from any directory (relative paths not found in the current directory are taken from the repository); bad
input ends with one line on stderr and exit status 2 before the model is built (``--debug``: the traceback).
"""
from __future__ import annotations

import argparse
import importlib.util
import os.path as osp
import sys
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np  # cheap; torch and mmseg are imported where used, so bad arguments fail before they load

if TYPE_CHECKING:
    import torch


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
ROOT = tool.setup_repo(__file__)  # this checkout's mmseg_code and projects/* (configs' custom_imports), any cwd


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='CoDe region and word masks for an image-caption pair')
    p.add_argument('config')
    p.add_argument('checkpoint', help='checkpoint or "none"')
    p.add_argument('image')
    p.add_argument('--caption', required=True)
    p.add_argument('--nouns', nargs='+', help='nouns to decompose (default: tagged from the caption)')
    p.add_argument('--out', default='code_vis.png')
    p.add_argument('--size', type=int, default=448, help='short side the image is resized to (448 as evaluation)')
    p.add_argument('--pamr', action='store_true', help='refine the region masks with PAMR')
    p.add_argument('--device', default='cpu')
    tool.add_debug_arg(p)
    args = p.parse_args(argv)
    if not args.caption.strip():
        p.error('--caption is empty')
    if args.size < 1:
        p.error(f'--size must be a positive number of pixels, got {args.size}')
    return args


def tag_nouns(caption: str, max_nouns: int = 4) -> list:
    from mmseg_code.datasets.nlp.tagger import extract_nouns, get_pos_tagger
    tagger = get_pos_tagger('builtin')
    nouns = list(dict.fromkeys(extract_nouns(tagger(caption))))
    if not nouns:
        raise tool.UserError(f'no noun found in {caption!r}: pass --nouns')
    return nouns[:max_nouns]


def load_model(config: str, checkpoint: Optional[str], device: str = 'cpu'):
    from mmseg_code.apis import init_segmentor
    return init_segmentor(config, None if checkpoint in (None, 'none') else checkpoint, device=device,
                          vocabulary=['background', 'object'])


def _normalise(model, image_bgr: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray]:
    import mmcv
    import torch
    h, w = image_bgr.shape[:2]
    scale = size / min(h, w)
    img = mmcv.imresize(image_bgr, (max(1, round(w * scale)), max(1, round(h * scale))))
    tensor = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    data = model.data_preprocessor(dict(inputs=[tensor]), False)
    return data['inputs'], img[..., ::-1].copy()


def code_masks(model, image_bgr: np.ndarray, caption: str, nouns: Sequence[str], size: int = 448,
               pamr: bool = False) -> dict:
    """Region masks ``J×H×W`` (at the resized image), word masks ``J×T`` and the caption's T tokens.

    Returns ``dict(image=RGB H×W×3, region=J×H×W, words=J×T | None, tokens=[str]*T)``.
    """
    import torch
    with torch.no_grad():
        return _code_masks(model, image_bgr, caption, nouns, size, pamr)


def _code_masks(model, image_bgr: np.ndarray, caption: str, nouns: Sequence[str], size: int, pamr: bool) -> dict:
    import torch.nn.functional as F
    x, rgb = _normalise(model, image_bgr, size)
    x = x.to(next(model.parameters()).device)
    h, w = x.shape[-2:]
    from mmseg_code.models.clip import pad_to_patch
    xp, (pl, _, pt, _) = pad_to_patch(x, model.decode_head.patch_size)
    emb = model.text_encoder.encode_names(list(nouns)).float()                       # J×D
    feats = F.normalize(model.decode_head(model.image_encoder(x)), dim=1, eps=1e-6)  # V^s of the padded image
    _, soft = model.decode_head.sim2mask(feats, emb)                                  # 1×J×h'×w'
    if pamr:
        from mmseg_code.models.pamr import PAMR
        img = F.interpolate(xp, size=soft.shape[-2:], mode='bilinear', align_corners=True)
        soft = PAMR()(img, soft)
    region = F.interpolate(soft.float(), size=xp.shape[-2:], mode='bilinear', align_corners=False)
    region = region[0, :, pt:pt + h, pl:pl + w].clamp(0, 1).cpu().numpy()

    te = model.clip.text_encoder
    ids = te.tokenize([caption])
    eot = int(te.eot_index(ids)[0])
    tokens = [te.tokenizer.decode([int(t)]).strip() for t in ids[0, 1:eot]]
    words = None
    segmenter = getattr(model, 'text_segmenter', None)
    if segmenter is not None:
        from mmseg_code.models.heads.text_segmenter import word_masks
        z = segmenter(ids, emb.unsqueeze(0))                                          # 1×(J+1)×L
        words = word_masks(z)[0, :, 1:eot].cpu().numpy()                              # J×T
    return dict(image=rgb, region=region, words=words, tokens=tokens, nouns=list(nouns))


def region_overlay(result: dict, threshold: float = 0.5) -> tuple[np.ndarray, list, list]:
    """The nouns' region masks as one labelled overlay with a legend (the project's renderer, ``draw_overlay``).

    Label of a pixel: 1 + the noun of the largest mask, 0 ("none") where every mask is ≤ ``threshold``. Returns the
    drawing, the class names (``'none'`` + nouns) and their palette.
    """
    from mmseg_code.apis.visualization import auto_palette, draw_overlay
    region = result['region']
    labels = np.where(region.max(0) > threshold, region.argmax(0) + 1, 0).astype(np.uint8)
    classes = ['none'] + list(result['nouns'])
    palette = [[0, 0, 0]] + auto_palette(result['nouns'])
    return draw_overlay(result['image'], labels, classes, palette), classes, palette


def render(result: dict, out: str, title: Optional[str] = None) -> str:
    """Fig. 1/4-style PNG: image + per-noun region heatmaps; caption tokens shaded by each noun's word mask."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    nouns, region, words, tokens = result['nouns'], result['region'], result['words'], result['tokens']
    j = len(nouns)
    n_rows = 2 if words is not None else 1
    fig = plt.figure(figsize=(3 * (j + 1), 3 * n_rows + 0.3 * j))
    overlay, _, palette = region_overlay(result)
    for k in range(j + 1):
        ax = fig.add_subplot(n_rows, j + 1, k + 1)
        if k:
            ax.imshow(result['image'])
            ax.imshow(region[k - 1], cmap='jet', alpha=0.5, vmin=0, vmax=1)
            ax.set_title(f'"{nouns[k - 1]}"  (mean {region[k - 1].mean():.2f})', fontsize=9)
        else:
            ax.imshow(overlay)
            ax.set_title('nouns (argmax of the region masks)', fontsize=9)
        ax.axis('off')
    if words is not None:
        ax = fig.add_subplot(n_rows, 1, 2)
        ax.axis('off')
        ax.set_xlim(0, 1)
        ax.set_ylim(0, j + 0.5)
        for r in range(j):
            y = j - r - 0.5
            ax.text(0.0, y, f'{nouns[r]}:', fontsize=9, ha='left', va='center', weight='bold')
            x = 0.12
            colour = tuple(c / 255.0 for c in palette[r + 1])
            for t, tok in enumerate(tokens):
                v = float(words[r, t])
                ax.text(x, y, tok, fontsize=9, ha='left', va='center',
                        bbox=dict(facecolor=colour, alpha=max(0.05, v), edgecolor='none', pad=1.5))
                x += 0.012 * (len(tok) + 2)
        ax.set_title('word masks M_t (shade = mask value)', fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    config = tool.resolve_path(args.config, ROOT, 'config')
    checkpoint = tool.resolve_checkpoint(args.checkpoint, ROOT)
    image = tool.read_image(args.image, ROOT)
    tool.check_output_file(args.out)
    import torch
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise tool.UserError(f'--device {args.device}: no CUDA device is available here; use --device cpu')
    import mmseg_code  # noqa: F401  (registers the plugin, safe checkpoint loading)
    model = load_model(config, checkpoint, args.device)
    nouns = args.nouns or tag_nouns(args.caption)
    result = code_masks(model, image, args.caption, nouns, size=args.size, pamr=args.pamr)
    if result['words'] is None:
        print(f'{type(model).__name__} has no text segmenter: drawing region masks only')
    render(result, args.out, title=args.caption)
    print(f'nouns {nouns} -> {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(tool.run_tool(main))
