"""TSEG's training losses (Sec. 3.3).

* Weak supervision — multi-label soft-margin over the batch's expressions:
      L_cls(z, ẑ) = Σ_j −ẑ_j log σ(z_j) − (1 − ẑ_j) log σ(−z_j)
  ``z``: ``B×L`` image-text scores, ``ẑ``: ``B×L`` targets in {0, 1} (identity ground truth, see
  :func:`batch_targets`). The paper writes a sum over j; the cited implementations ([2, 3]) use
  ``torch.nn.MultiLabelSoftMarginLoss``, which takes the mean over j — ``class_reduction`` picks either; the batch
  mean over images follows. Default: ``'mean'`` (see the project README, "choices").
* Full supervision (upper bound) — Dice (Eq. 9) between ``M = σ(S↑)`` and the GT masks:
      L_dice = 1 − 2 Σ m·m̂ / (Σ m + Σ m̂)          per (image, expression) pair, averaged.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


def batch_targets(expressions: Sequence[Sequence[str]]) -> Tuple[List[str], torch.Tensor]:
    """Identity ground truth over a mini-batch (Table 2c "identity").

    Args:
        expressions: per image, its positive expressions.
    Returns:
        the L unique expressions of the batch (first-seen order) and targets ``B×L`` (float, 1 iff the exact
        string is one of the image's expressions).
    """
    vocab: dict = {}
    for exprs in expressions:
        for e in exprs:
            vocab.setdefault(e, len(vocab))
    targets = torch.zeros(len(expressions), len(vocab))
    for b, exprs in enumerate(expressions):
        for e in exprs:
            targets[b, vocab[e]] = 1.0
    return list(vocab), targets


@MODELS.register_module()
class TSEGSoftMarginLoss(nn.Module):
    """Multi-label soft-margin loss on image-text scores.

    Args:
        class_reduction: ``'mean'`` (PyTorch's ``MultiLabelSoftMarginLoss``) or ``'sum'`` (the paper's formula)
            over the L expressions; images are then averaged.
        loss_weight: weight of the term.
    """

    def __init__(self, class_reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__()
        if class_reduction not in ('mean', 'sum'):
            raise ValueError(f"class_reduction must be 'mean' or 'sum', got {class_reduction!r}")
        self.class_reduction = class_reduction
        self.loss_weight = float(loss_weight)

    def forward(self, z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = targets.to(z)
        per = -targets * F.logsigmoid(z) - (1.0 - targets) * F.logsigmoid(-z)      # B×L
        per = per.mean(dim=-1) if self.class_reduction == 'mean' else per.sum(dim=-1)
        return self.loss_weight * per.mean()


@MODELS.register_module()
class TSEGDiceLoss(nn.Module):
    """Eq. 9 on probabilities ``M`` and binary GT ``M̂``, both ``P×H×W`` (P image-expression pairs).

    Args:
        smooth: added to numerator and denominator (0 = the paper's formula; a small value avoids 0/0).
        loss_weight: weight of the term.
    """

    def __init__(self, smooth: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.smooth, self.loss_weight = float(smooth), float(loss_weight)

    def forward(self, probs: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        gt = gt.to(probs).flatten(1)
        probs = probs.flatten(1)
        inter = (probs * gt).sum(-1)
        dice = 1.0 - (2.0 * inter + self.smooth) / (probs.sum(-1) + gt.sum(-1) + self.smooth)
        return self.loss_weight * dice.mean()
