"""Segment one image with any vocabulary.

    python tools/demo.py IMAGE --vocab "cat, dog, grass" [--config CONFIG] [--checkpoint CKPT] [--out out.png]
        [--background | --no-background] [--no-pamr] [--device cuda]

``--vocab``: classes separated by commas, or ``"cat, kitten; dog; grass"`` (classes by ``;``, synonyms by ``,``), or a
``.txt`` file (one class per line). With ``--background`` (default) a class "background" (label 0) takes the pixels
no class scores above the threshold (0.4 with PAMR, 0.5 without). Writes ``--out`` (image | overlay | legend) and
``<out>_pred.png`` (label map); prints the classes found with their area.

Referring expressions (TSEG, ``projects/tseg``): one mask per expression,

    python tools/demo.py IMAGE --expr "the man in the red shirt" [--expr "green grass"] --config TSEG_CONFIG
        --checkpoint CKPT [--out out.png]
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

import mmcv
import numpy as np
from PIL import Image

import mmseg_code  # noqa: F401

DEFAULT_CONFIG = 'configs/code/code_vitb16_cc.py'
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Open-vocabulary segmentation of one image')
    p.add_argument('image')
    p.add_argument('--vocab', help='"cat, dog, grass", "cat, kitten; dog" or a .txt file')
    p.add_argument('--expr', action='append', help='a referring expression for TSEG (repeatable)')
    p.add_argument('--config', help=f'model config (default {DEFAULT_CONFIG}; with --expr: TSEG\'s PhraseCut config)')
    p.add_argument('--checkpoint', help='weights (plugin checkpoint or converted official release)')
    p.add_argument('--out', default='demo_out.png')
    p.add_argument('--background', dest='background', action='store_true', default=True,
                   help='add a thresholded background class (default)')
    p.add_argument('--no-background', dest='background', action='store_false')
    p.add_argument('--no-pamr', action='store_true', help='skip PAMR (background threshold 0.5)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--opacity', type=float, default=0.5)
    args = p.parse_args(argv)
    if (args.vocab is None) == (args.expr is None):
        p.error('give either --vocab (classes, open-vocabulary segmentation) or --expr (referring expressions, TSEG)')
    return args


def referring_demo(args: argparse.Namespace) -> int:
    """``--expr``: TSEG's demo (projects/tseg/demo/tseg_demo.py), one mask per expression."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from projects.tseg.demo.tseg_demo import DEFAULT_CONFIG as TSEG_CONFIG
    from projects.tseg.demo.tseg_demo import main as tseg_main
    argv = [args.image, '--config', args.config or TSEG_CONFIG, '--out', args.out, '--device', args.device,
            '--opacity', str(args.opacity)]
    for expr in args.expr:
        argv += ['--expr', expr]
    if args.checkpoint:
        argv += ['--checkpoint', args.checkpoint]
    return tseg_main(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.expr:
        return referring_demo(args)
    args.config = args.config or DEFAULT_CONFIG
    from mmseg_code.apis import OVSegInferencer
    if args.checkpoint is None:
        print('[demo] no --checkpoint: the model keeps the weights its config builds (random masker for the '
              'plugin configs)', file=sys.stderr)
    test_cfg = dict(pamr=False, bg_thresh=0.5) if args.no_pamr else None
    inferencer = OVSegInferencer(args.config, weights=args.checkpoint, vocabulary=args.vocab,
                                 background=args.background, device=args.device, test_cfg=test_cfg)
    image = mmcv.imread(args.image)
    if image is None:
        raise FileNotFoundError(args.image)
    pred = inferencer(image)['predictions']
    drawn = inferencer.overlay(image[..., ::-1], pred, alpha=args.opacity, side_by_side=True)
    Image.fromarray(drawn).save(args.out)
    pred_path = osp.splitext(args.out)[0] + '_pred.png'
    Image.fromarray(pred.astype(np.uint8)).save(pred_path)
    classes = inferencer.classes
    labels, counts = np.unique(pred, return_counts=True)
    for lb, c in sorted(zip(labels, counts), key=lambda t: -t[1]):
        print(f'{classes[lb]:>24s}: {100.0 * c / pred.size:5.1f}%')
    print(f'[demo] {args.out}, {pred_path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
