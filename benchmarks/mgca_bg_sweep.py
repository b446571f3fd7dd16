"""MGCA background threshold sweep on the synthetic VOC-style benchmark (background + 4 shapes).

MGCA (Sec. 4.2) finds the background "by thresholding the softmax-normalised similarity" (GroupViT's rule) and gives
no value. This script measures mIoU (background included, as mmseg's IoUMetric) for a range of thresholds t on the
class softmax ``softmax_k(cos/τ)``, τ = 0.07: a pixel is background iff max_k softmax_k ≤ t.

    python benchmarks/mgca_bg_sweep.py projects/mgca/configs/mgca_tiny_shapes.py work_dirs/mgca_shapes/iter_300.pth
    python benchmarks/mgca_bg_sweep.py CONFIG CKPT --thresholds 0.3 0.5 0.7 --cfg-options model.test_cfg.num_units=None

Each image is scored once (with ``bg_thresh=0``, so that the foreground scores are the model's own), then every
threshold is applied to the same scores; the confusion matrices are accumulated over the benchmark's images. The data
come from the config's ``test_dataloader`` (``data/synthetic_shapes`` from
``tools/dataset_converters/make_synthetic_shapes.py``). Without a checkpoint the untrained model (decoder gates at 0,
i.e. MaskCLIP of the config's CLIP) is swept.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DEFAULT_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def miou_per_threshold(fg_scores, labels, thresholds, num_classes: int, ignore_index: int = 255) -> dict:
    """``{t: (mIoU %, IoU per class %)}``; ``fg_scores``: iterable of ``K×H×W`` arrays (K foreground classes),
    ``labels``: iterable of ``H×W`` arrays (0 = background, 1..K, ``ignore_index``)."""
    conf = {t: np.zeros((num_classes, num_classes), np.int64) for t in thresholds}
    for fg, gt in zip(fg_scores, labels):
        valid = gt != ignore_index
        best, arg = fg.max(0), fg.argmax(0) + 1
        for t in thresholds:
            pred = np.where(best > t, arg, 0)
            conf[t] += np.bincount(num_classes * gt[valid].astype(np.int64) + pred[valid],
                                   minlength=num_classes ** 2).reshape(num_classes, num_classes)
    out = {}
    for t, c in conf.items():
        inter = np.diag(c).astype(np.float64)
        union = c.sum(0) + c.sum(1) - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
        out[t] = (float(np.nanmean(iou) * 100), [float(v * 100) for v in iou])
    return out


def main(argv=None) -> int:
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?', default=None)
    p.add_argument('--thresholds', type=float, nargs='+', default=list(DEFAULT_THRESHOLDS))
    p.add_argument('--max-images', type=int, default=None)
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='key=value overrides (e.g. model.test_cfg.units=window)')
    p.add_argument('--json', default=None, help='also write the results here')
    args = p.parse_args(argv)

    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, load_checkpoint
    from mmseg.registry import MODELS

    import mmseg_code  # noqa: F401
    from mmseg_code.utils.config import load_config
    cfg = load_config(args.config, args.cfg_options)
    cfg.model.test_cfg = dict(cfg.model.get('test_cfg', {}), bg_thresh=0.0, pamr=False)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    loader = Runner.build_dataloader(cfg.test_dataloader)
    classes = loader.dataset.metainfo['classes']
    if model.vocabulary is None:
        model.set_vocabulary(list(classes))

    fg_scores, labels = [], []
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if args.max_images is not None and i >= args.max_images:
                break
            for s in model.test_step(batch):
                fg_scores.append(s.seg_logits.data[1:].float().numpy())
                labels.append(s.gt_sem_seg.data[0].numpy())
    res = miou_per_threshold(fg_scores, labels, args.thresholds, len(classes))
    print(f'{len(labels)} images, classes {list(classes)}, test_cfg {dict(model.test_cfg)}')
    print('| bg threshold | mIoU | ' + ' | '.join(classes) + ' |')
    print('|---|---|' + '---|' * len(classes))
    for t, (m, iou) in res.items():
        print(f'| {t:g} | {m:.2f} | ' + ' | '.join(f'{v:.1f}' for v in iou) + ' |')
    best = max(res, key=lambda t: res[t][0])
    print(f'best threshold {best:g}: mIoU {res[best][0]:.2f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({str(t): v for t, v in res.items()}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
