"""Text segmentation loss L^t_seg of CoDe (Sec. 3.2): cross-entropy of the word masks over J+1 classes per token.

Inputs (B captions, J nouns, L = 77 tokens):
    class_logits  ``B×(J+1)×L``  from ``TextSegmenter`` (class 0 = constant 0 logit "no noun", class j+1 = noun j,
                                 invalid nouns already at −inf)
    labels        ``B×L`` int64  per-token class, −1 = ignore

    L^t_seg = Σ_{b,i: y≠−1} c_y · (−log softmax(z_{b,:,i})_y) / Σ_{b,i: y≠−1} c_y      (F.cross_entropy, weighted mean)

with class weights c = [``bg_weight``, 1, …, 1] (official 0.5 on "no noun").

Label sources:
* ``label_source='word_labels'`` (official code): the data pipeline's labels — −1 for SOT/EOT/padding/non-nouns,
  0 for tokens of unselected caption nouns, j+1 for tokens of selected noun j.
* ``label_source='argmax'`` (paper text): self-labels p_i = argmax over the J+1 probabilities (detached) at the caption
  tokens 1 … EOT−1; SOT, EOT and padding are −1. Ties go to the lower class index (``torch.argmax``), so the
  "no noun" class wins a tie with a noun, and noun j wins a tie with noun j' > j.

Labels that point at an invalid noun are ignored in both modes, so a padded noun changes no value.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


def argmax_self_labels(class_logits: torch.Tensor, ids: torch.Tensor, eot_index: torch.Tensor) -> torch.Tensor:
    """Paper-style pseudo labels ``B×L``: argmax over J+1 classes at positions 1 … EOT−1, −1 elsewhere."""
    labels = class_logits.detach().argmax(dim=1)  # B×L
    pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
    inside = (pos >= 1) & (pos < eot_index.unsqueeze(1))
    return labels.masked_fill(~inside, -1)


@MODELS.register_module()
class TextSegLoss(nn.Module):
    """L^t_seg, weighted CE over the J+1 word classes.

    Args:
        label_source: ``'word_labels'`` (official) or ``'argmax'`` (paper self-labels).
        bg_weight: class weight of "no noun" (official 0.5); nouns have weight 1.
        ignore_index: label value to ignore (−1).
    """

    def __init__(self, label_source: str = 'word_labels', bg_weight: float = 0.5, ignore_index: int = -1) -> None:
        super().__init__()
        if label_source not in ('word_labels', 'argmax'):
            raise ValueError(f"label_source must be 'word_labels' or 'argmax', got {label_source!r}")
        self.label_source = label_source
        self.bg_weight = float(bg_weight)
        self.ignore_index = ignore_index

    def make_labels(self,
                    class_logits: torch.Tensor,
                    word_labels: Optional[torch.Tensor] = None,
                    ids: Optional[torch.Tensor] = None,
                    eot_index: Optional[torch.Tensor] = None,
                    noun_valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Per-token targets ``B×L`` (−1 = ignore) for the configured label source."""
        if self.label_source == 'argmax':
            if ids is None or eot_index is None:
                raise ValueError("label_source='argmax' needs the caption ids and EOT index")
            labels = argmax_self_labels(class_logits, ids, eot_index)
        else:
            if word_labels is None:
                raise ValueError("label_source='word_labels' needs the data samples' word_labels")
            labels = word_labels.long()
        if noun_valid is not None:
            # class k (k ≥ 1) is noun k−1: ignore labels of invalid nouns.
            cls_valid = torch.cat([noun_valid.new_ones(noun_valid.shape[0], 1), noun_valid.bool()], dim=1)
            safe = labels.clamp(min=0)
            ok = torch.gather(cls_valid, 1, safe)
            labels = labels.masked_fill(~ok, self.ignore_index)
        return labels

    def forward(self,
                class_logits: torch.Tensor,
                word_labels: Optional[torch.Tensor] = None,
                ids: Optional[torch.Tensor] = None,
                eot_index: Optional[torch.Tensor] = None,
                noun_valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        labels = self.make_labels(class_logits, word_labels, ids, eot_index, noun_valid)
        num_classes = class_logits.shape[1]
        weight = class_logits.new_ones(num_classes, dtype=torch.float32)
        weight[0] = self.bg_weight
        logits = class_logits.float()
        valid = labels != self.ignore_index
        # F.cross_entropy's weighted mean is NaN when every label is ignored; compute it so it is 0 instead.
        nll = F.cross_entropy(logits, labels.clamp(min=0), reduction='none')  # B×L
        w = weight[labels.clamp(min=0)] * valid.float()
        return (nll.masked_fill(~valid, 0.0) * w).sum() / w.sum().clamp(min=1e-12)

    def extra_repr(self) -> str:
        return f'label_source={self.label_source}, bg_weight={self.bg_weight}'
