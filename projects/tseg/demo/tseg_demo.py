"""Referring-expression segmentation of one image with TSEG.

    python projects/tseg/demo/tseg_demo.py IMAGE --expr "the man in the red shirt" [--expr "green grass" ...]
        --config projects/tseg/configs/tseg_vits16-bert-small_4xb8-120k_phrasecut-384x384.py --checkpoint CKPT
        [--out tseg_demo.png] [--device cpu] [--cfg-options k=v ...]

Writes ``--out`` (the image with one coloured, outlined mask per expression and a legend of the expressions) and
prints, per expression, its image-level confidence σ(z) and mask area.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..')))

DEFAULT_CONFIG = 'projects/tseg/configs/tseg_vits16-bert-small_4xb8-120k_phrasecut-384x384.py'


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description='TSEG referring-expression segmentation of one image')
    p.add_argument('image')
    p.add_argument('--expr', action='append', required=True, help='a referring expression (repeatable)')
    p.add_argument('--config', default=DEFAULT_CONFIG)
    p.add_argument('--checkpoint')
    p.add_argument('--out', default='tseg_demo.png')
    p.add_argument('--device', default='cpu')
    p.add_argument('--opacity', type=float, default=0.5)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def main(argv=None) -> int:
    import mmcv
    from PIL import Image

    from projects.tseg.tseg.apis import TSEGInferencer
    a = parse_args(argv)
    inferencer = TSEGInferencer(a.config, weights=a.checkpoint, device=a.device, cfg_options=a.cfg_options)
    img = mmcv.imread(a.image)
    res = inferencer(img, a.expr)
    Image.fromarray(inferencer.overlay(img[..., ::-1], res['masks'], a.opacity, res['expressions'])).save(a.out)
    for e, s, m in zip(res['expressions'], res['scores'], res['masks']):
        print(f'{e!r}: confidence {s:.3f}, area {100.0 * m.mean():.1f}%')
    print(f'wrote {a.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
