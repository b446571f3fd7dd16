"""Referring-expression segmentation of one image with TSEG.

    python projects/tseg/demo/tseg_demo.py IMAGE --expr "the man in the red shirt" [--expr "green grass" ...]
        --config projects/tseg/configs/tseg_vits16-bert-small_4xb8-120k_phrasecut-384x384.py --checkpoint CKPT
        [--out tseg_demo.png] [--device cpu] [--cfg-options k=v ...] [--debug]

Writes ``--out`` (the image with one coloured, outlined mask per expression and a legend of the expressions) and
prints, per expression, its image-level confidence σ(z) and mask area. Paths as in ``tools/demo.py`` (relative ones
not found in the current directory are taken from the repository); bad input ends with one line on stderr before the
model is built.
"""
from __future__ import annotations

import argparse
import importlib.util
import os.path as osp
import sys


def _tool_helper():
    """This checkout's ``mmseg_code/utils/tool.py``, loaded without the package import (which takes seconds)."""
    name = 'mmseg_code.utils.tool'
    if name not in sys.modules:
        root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
        spec = importlib.util.spec_from_file_location(name, osp.join(root, 'mmseg_code', 'utils', 'tool.py'))
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


tool = _tool_helper()
ROOT = tool.setup_repo(__file__)  # `projects.tseg` and this checkout's mmseg_code import from any directory
DEFAULT_CONFIG = 'projects/tseg/configs/tseg_vits16-bert-small_4xb8-120k_phrasecut-384x384.py'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='TSEG referring-expression segmentation of one image')
    p.add_argument('image')
    p.add_argument('--expr', action='append', required=True, help='a referring expression (repeatable)')
    p.add_argument('--config', default=DEFAULT_CONFIG)
    p.add_argument('--checkpoint')
    p.add_argument('--out', default='tseg_demo.png')
    p.add_argument('--device', default='cpu')
    p.add_argument('--opacity', type=float, default=0.5)
    tool.add_cfg_options_arg(p)
    tool.add_debug_arg(p)
    args = p.parse_args(argv)
    if not all(e.strip() for e in args.expr):
        p.error('--expr needs a non-empty expression')
    return args


def run(image, expressions, config: str, checkpoint=None, out: str = 'tseg_demo.png', device: str = 'cpu',
        opacity: float = 0.5, cfg_options=None) -> int:
    """Segment ``image`` (BGR array, as ``mmcv.imread`` gives) once per expression and write the overlay ``out``."""
    from PIL import Image

    import mmseg_code  # noqa: F401
    from mmseg_code.utils import load_config
    from projects.tseg.tseg.apis import TSEGInferencer
    inferencer = TSEGInferencer(load_config(config, cfg_options), weights=checkpoint, device=device)
    res = inferencer(image, expressions)
    Image.fromarray(inferencer.overlay(image[..., ::-1], res['masks'], opacity, res['expressions'])).save(out)
    for e, s, m in zip(res['expressions'], res['scores'], res['masks']):
        print(f'{e!r}: confidence {s:.3f}, area {100.0 * m.mean():.1f}%')
    print(f'wrote {out}')
    return 0


def main(argv=None) -> int:
    a = parse_args(argv)
    config = tool.resolve_path(a.config, ROOT, 'config')
    checkpoint = tool.resolve_checkpoint(a.checkpoint, ROOT)
    tool.check_output_file(a.out)
    image = tool.read_image(a.image, ROOT)
    import torch
    if a.device.startswith('cuda') and not torch.cuda.is_available():
        raise tool.UserError(f'--device {a.device}: no CUDA device is available here; use --device cpu')
    return run(image, a.expr, config, checkpoint=checkpoint, out=a.out, device=a.device, opacity=a.opacity,
               cfg_options=a.cfg_options)


if __name__ == '__main__':
    sys.exit(tool.run_tool(main))
