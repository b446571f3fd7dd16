"""Knowledge-guided noun-embedding loss L_kg of CoDe (Eq. 1, from KgCoOp).

Paper (Eq. 1):   L_kg = mean_j ‖n_j − n'_j‖²₂                        (``form='sq'``)
Official code:   L_kg = 1 − mean_j cos(n_j, n'_j)                     (``form='cos'``, default)

For unit vectors 1 − cos = ½‖n − n'‖², so the official form is half the paper's. Shapes: n, n' ``N×D`` (N = B·J
noun-major triplets); ``valid`` ``N`` bool excludes padding nouns (the mean runs over valid nouns only; with none the
loss is 0). The weight λ_kg = 8.0 is applied by the segmentor (``loss_weights.kg``), not here.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


def masked_mean(x: torch.Tensor, valid: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean of ``x`` (``N``) over ``valid`` entries; 0 (with a graph) when none is valid. No host sync."""
    if valid is None:
        return x.mean()
    w = valid.to(x.dtype)
    return (x * w).sum() / w.sum().clamp(min=1.0)


@MODELS.register_module()
class KgLoss(nn.Module):
    """L_kg between learnable-prompt noun embeddings n and knowledge-guided targets n'.

    Args:
        form: ``'cos'`` → 1 − cos(n, n') (official); ``'sq'`` → ‖n − n'‖² (paper Eq. 1).
        normalize: L2-normalise both inputs first (they already are when they come from ``KgCoOpNounPrompt``).
    """

    def __init__(self, form: str = 'cos', normalize: bool = True) -> None:
        super().__init__()
        if form not in ('cos', 'sq'):
            raise ValueError(f"form must be 'cos' or 'sq', got {form!r}")
        self.form = form
        self.normalize = normalize

    def forward(self, n: torch.Tensor, n_prime: torch.Tensor, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        n = n.float()
        n_prime = n_prime.detach().float()
        if self.normalize:
            n, n_prime = F.normalize(n, dim=-1), F.normalize(n_prime, dim=-1)
        if self.form == 'cos':
            per = 1.0 - (n * n_prime).sum(-1)
        else:
            per = (n - n_prime).pow(2).sum(-1)
        return masked_mean(per, valid)

    def extra_repr(self) -> str:
        return f'form={self.form}'
