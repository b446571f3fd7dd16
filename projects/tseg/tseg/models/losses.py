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

import re
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


def tfidf_similarity(texts: Sequence[str]) -> torch.Tensor:
    """Cosine similarity ``L×L`` of the tf-idf vectors of ``texts`` (the batch's L unique expressions = documents).

    Words: lower-cased ``\\w+`` runs. tf(w, d) = count(w in d) / |d|; idf(w) = log(L / df(w)) + 1 (the +1 keeps a
    word shared by every expression of the batch from vanishing, as scikit-learn's non-smoothed idf). An expression
    without words has a zero vector (similarity 0, except 1 with itself).
    """
    docs = [re.findall(r'\w+', t.lower()) for t in texts]
    n = len(docs)
    words = sorted({w for d in docs for w in d})
    index = {w: i for i, w in enumerate(words)}
    tf = torch.zeros(n, len(words), dtype=torch.float64)
    for i, d in enumerate(docs):
        for w in d:
            tf[i, index[w]] += 1.0 / len(d)
    df = (tf > 0).sum(0).to(torch.float64)
    vec = tf * (torch.log(n / df.clamp_min(1)) + 1.0)
    norm = vec.norm(dim=1, keepdim=True)
    vec = vec / norm.clamp_min(1e-12)
    sim = vec @ vec.t()
    sim.fill_diagonal_(1.0)
    return sim.float()


def batch_targets(expressions: Sequence[Sequence[str]], ground_truth: str = 'identity'
                  ) -> Tuple[List[str], torch.Tensor]:
    """Ground truth over a mini-batch (Table 2c).

    Args:
        expressions: per image, its positive expressions.
        ground_truth: ``'identity'`` (the paper's choice: 1 iff the exact string is one of the image's
            expressions, else 0) or ``'tfidf'`` (Table 2c's soft ground truth, Sec. 4.3: "the similarity between two
            referring expressions is computed according to a tf-idf score" -- image b's target for expression j is
            the largest tf-idf cosine between j and b's own expressions, so "brown cat" gets a positive target in
            an image of "tabby cat"; its own expressions keep 1).
    Returns:
        the L unique expressions of the batch (first-seen order) and targets ``B×L`` (float in [0, 1]).
    """
    if ground_truth not in ('identity', 'tfidf'):
        raise ValueError(f"ground_truth must be 'identity' or 'tfidf', got {ground_truth!r}")
    vocab: dict = {}
    for exprs in expressions:
        for e in exprs:
            vocab.setdefault(e, len(vocab))
    targets = torch.zeros(len(expressions), len(vocab))
    for b, exprs in enumerate(expressions):
        for e in exprs:
            targets[b, vocab[e]] = 1.0
    if ground_truth == 'tfidf' and len(vocab):
        sim = tfidf_similarity(list(vocab))
        for b, exprs in enumerate(expressions):
            own = [vocab[e] for e in exprs]
            if own:
                targets[b] = sim[own].max(0).values
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
