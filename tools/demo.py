"""Segment one image with any vocabulary.

    python tools/demo.py IMAGE --vocab "cat, dog, grass" [--config CONFIG] [--checkpoint CKPT] [--out out.png]
        [--background | --no-background] [--no-pamr] [--device cuda] [--cfg-options k=v ...] [--debug]

``--vocab``: classes separated by commas, or ``"cat, kitten; dog; grass"`` (classes by ``;``, synonyms by ``,``), or a
``.txt`` file (one class per line). With ``--background`` (default) a class "background" (label 0) takes the pixels
no class scores above the threshold (0.4 with PAMR, 0.5 without). Writes ``--out`` (image | overlay | legend) and
``<out>_pred.png`` (label map); prints the classes found with their area.

Referring expressions (TSEG, ``projects/tseg``): one mask per expression,

    python tools/demo.py IMAGE --expr "the man in the red shirt" [--expr "green grass"] --config TSEG_CONFIG
        --checkpoint CKPT [--out out.png]

Works from any directory: a relative config, checkpoint, image or vocabulary file not found in the current directory is
taken from the repository (``--out`` is written relative to the current directory). The image is decoded, and every
path checked, before the model is built; bad input ends with one line on stderr and exit status 2 (``--debug``: the
traceback). ``--cfg-options load_strict=False`` loads a checkpoint whose keys do not all match.
"""
from __future__ import annotations

import argparse
import importlib.util
import os.path as osp
import re
import sys


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
DEFAULT_CONFIG = 'configs/code/code_vitb16_cc.py'


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
    tool.add_cfg_options_arg(p, 'override settings of the model config (e.g. load_strict=False)')
    tool.add_debug_arg(p)
    args = p.parse_args(argv)
    if (args.vocab is None) == (args.expr is None):
        p.error('give either --vocab (classes, open-vocabulary segmentation) or --expr (referring expressions, TSEG)')
    if args.expr is not None and not all(e.strip() for e in args.expr):
        p.error('--expr needs a non-empty expression')
    return args


def _tseg_demo():
    """``projects/tseg/demo/tseg_demo.py`` of this checkout (light to import; its ``run`` does the work)."""
    from projects.tseg.demo import tseg_demo
    return tseg_demo


def check_args(args: argparse.Namespace):
    """Every path and the image, before anything heavy is imported; returns the decoded image (BGR)."""
    default = _tseg_demo().DEFAULT_CONFIG if args.expr else DEFAULT_CONFIG
    args.config = tool.resolve_path(args.config or default, ROOT, 'config')
    args.checkpoint = tool.resolve_checkpoint(args.checkpoint, ROOT)
    if args.vocab is not None:
        if args.vocab.strip().endswith('.txt'):
            args.vocab = tool.resolve_path(args.vocab.strip(), ROOT, 'vocabulary file')
        elif not any(s.strip() for s in re.split('[,;]', args.vocab)):
            raise tool.UserError(f'--vocab {args.vocab!r} names no class; give e.g. --vocab "cat, dog, grass"')
    tool.check_output_file(args.out)
    return tool.read_image(args.image, ROOT)


def check_device(device: str) -> None:
    import torch
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise tool.UserError(f'--device {device}: no CUDA device is available here; use --device cpu')


def referring_demo(args: argparse.Namespace, image) -> int:
    """``--expr``: TSEG's demo (projects/tseg/demo/tseg_demo.py), one mask per expression."""
    return _tseg_demo().run(image, args.expr, args.config, checkpoint=args.checkpoint, out=args.out,
                            device=args.device, opacity=args.opacity, cfg_options=args.cfg_options)


def main(argv=None) -> int:
    args = parse_args(argv)
    image = check_args(args)
    check_device(args.device)
    if args.expr:
        return referring_demo(args, image)
    import numpy as np
    from PIL import Image

    import mmseg_code  # noqa: F401  (registers the plugin, safe checkpoint loading)
    from mmseg_code.apis import OVSegInferencer
    from mmseg_code.compat import set_strict_loading
    from mmseg_code.utils import load_config
    cfg = load_config(args.config, args.cfg_options)
    set_strict_loading(cfg.get('load_strict', True))  # --cfg-options load_strict=False: non-strict keys
    training_free = cfg.model.get('type') == 'TrainingFreeSegmentor'      # no weights of its own: none needed
    if args.checkpoint is None and not training_free:
        print('[demo] no --checkpoint: the model keeps the weights its config builds (random masker for the '
              'plugin configs)', file=sys.stderr)
    test_cfg = (dict(pamr=False) if training_free else dict(pamr=False, bg_thresh=0.5)) if args.no_pamr else None
    inferencer = OVSegInferencer(cfg, weights=args.checkpoint, vocabulary=args.vocab,
                                 background=args.background, device=args.device, test_cfg=test_cfg)
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
    sys.exit(tool.run_tool(main))
