"""Referring-segmentation metric: per image-expression IoU, reported per split.

For the P image-expression pairs of a split, with I_p = |pred_p ∧ gt_p| and U_p = |pred_p ∨ gt_p| at the original
image size:

* ``mIoU``  = 1/P Σ_p I_p / U_p    (TSEG's metric: "IoU averaged over all image-region pairs"; U_p = 0 → IoU 1)
* ``oIoU``  = Σ_p I_p / Σ_p U_p     (overall / cumulative IoU, PhraseCut's "cum IoU", mmdet's cIoU)
* ``Pr@t``  = 1/P Σ_p [I_p / U_p ≥ t], t ∈ {0.5, 0.6, 0.7, 0.8, 0.9}

All values in percent. Keys: ``<split>/mIoU`` … for every split present, plus ``mIoU`` … over all pairs.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmseg.registry import METRICS


def pair_stats(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``K×H×W`` bool predictions and GT → intersections and unions ``K`` (int64)."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    inter = (pred & gt).reshape(pred.shape[0], -1).sum(-1)
    union = (pred | gt).reshape(pred.shape[0], -1).sum(-1)
    return inter.astype(np.int64), union.astype(np.int64)


def summarize(inter: np.ndarray, union: np.ndarray, thresholds: Sequence[float]) -> Dict[str, float]:
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    out = {'mIoU': 100.0 * float(iou.mean()) if len(iou) else float('nan'),
           'oIoU': 100.0 * float(inter.sum() / max(union.sum(), 1))}
    for t in thresholds:
        out[f'Pr@{t:g}'] = 100.0 * float((iou >= t).mean()) if len(iou) else float('nan')
    out['num_pairs'] = int(len(iou))
    return out


@METRICS.register_module()
class ReferSegMetric(BaseMetric):
    """mIoU / oIoU / Pr@t over image-expression pairs, per split.

    Reads ``pred_masks`` (K×H×W bool) and ``gt_masks`` (K×H×W) of each data sample, ``split`` from its metainfo.
    """

    default_prefix: Optional[str] = None

    def __init__(self, thresholds: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9), collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thresholds = tuple(thresholds)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for s in data_samples:
            pred = s['pred_masks']['data'].cpu().numpy()
            gt = s['gt_masks']['data'].cpu().numpy()
            if pred.shape != gt.shape:
                raise ValueError(f'pred_masks {pred.shape} and gt_masks {gt.shape} differ')
            inter, union = pair_stats(pred, gt)
            self.results.append((s.get('split', 'all'), inter, union))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        by_split = defaultdict(lambda: ([], []))
        for split, inter, union in results:
            by_split[split][0].append(inter)
            by_split[split][1].append(union)
        out: Dict[str, float] = {}
        all_i, all_u = [], []
        lines = []
        for split, (i, u) in by_split.items():
            i, u = np.concatenate(i), np.concatenate(u)
            all_i.append(i)
            all_u.append(u)
            stats = summarize(i, u, self.thresholds)
            lines.append(f'{split}: ' + ', '.join(f'{k} {v:.2f}' if isinstance(v, float) else f'{k} {v}'
                                                  for k, v in stats.items()))
            for k, v in stats.items():
                out[f'{split}/{k}'] = v
        out.update(summarize(np.concatenate(all_i), np.concatenate(all_u), self.thresholds))
        MMLogger.get_current_instance().info('Referring segmentation (per image-expression pair):\n'
                                             + '\n'.join(lines))
        return out
