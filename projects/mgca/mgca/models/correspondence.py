"""Pseudo multi-grained correspondences on the pixel-text similarity tensor (MGCA Sec. 3.1-3.2, Eq. 2-4, 7).

Shapes: B local images, N = B·R texts of all R ranks, L pixels, C channels; image i's own text is column
``i + B·rank`` (the "diagonal").

    S[i, j, p]   = V_i^p · T_j                                 Eq. 2      B×N×L   raw dot product (not cosine)
    Prob_ij      = softmax_p(S_ij)                             Eq. 3      B×N×L
    M_ij^p       = 1 for the n pixels of largest Prob_ij       Eq. 3      n = n_k = ⌊k·L + ½⌋ on the diagonal,
                                                                          n = n_kn = ⌊k_n·L + ½⌋ off it (≥ 1)
    V^r_ij       = V_iᵀ (Prob_ij ⊙ M_ij)                       Eq. 4      C, no renormalisation
    S⁺_ii        = r-th largest of S_ii / f, r = ⌊k_pix·(n_k−1) + ½⌋ (0-based, within the object)   Eq. 7
    S⁻_ij        = max_p S_ij / f  (j ≠ i)                     Eq. 7      f = 5·√C

Top-k keeps exactly n pixels (``torch.topk``; ties broken by index) — Eq. 3's "≥ top-k" would keep every tie.
Index selections carry no gradient; gradients flow through the selected similarities, through V in the pooling
and through the softmax weights Prob.
"""
from __future__ import annotations

import math

import torch


def area_to_count(area: float, num_pixels: int) -> int:
    """Number of pixels of a region covering the fraction ``area`` of ``num_pixels``: ⌊area·L + ½⌋, at least 1."""
    if not 0.0 < area <= 1.0:
        raise ValueError(f'area must be in (0, 1], got {area}')
    return max(1, min(num_pixels, int(math.floor(area * num_pixels + 0.5))))


def semi_hard_rank(k_pix: float, num_object_pixels: int) -> int:
    """0-based rank of the semi-hard positive among the object's pixels sorted by decreasing similarity.

    ``k_pix = 0`` → 0 (the most similar, "most trustworthy"); ``k_pix = 1`` → n_k − 1 (the least similar pixel
    of the object, "hardest"); in between ⌊k_pix·(n_k − 1) + ½⌋ (ViT-B/16, 224²: n_k = 314, k_pix = 0.06 → 19).
    """
    if not 0.0 <= k_pix <= 1.0:
        raise ValueError(f'k_pix must be in [0, 1], got {k_pix}')
    return int(math.floor(k_pix * (num_object_pixels - 1) + 0.5))


def pixel_text_similarity(pixel_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """Eq. 2: ``S[i, j, p] = V_i^p · T_j`` (fp32). ``pixel_emb`` B×L×C, ``text_emb`` N×C → B×N×L."""
    return torch.einsum('blc,nc->bnl', pixel_emb.float(), text_emb.float())


def topk_mask(sim: torch.Tensor, count: int) -> torch.Tensor:
    """Eq. 3: {0, 1} mask ``…×L`` of the ``count`` largest entries along the last dim (no gradient)."""
    idx = sim.detach().topk(count, dim=-1).indices
    return torch.zeros_like(sim).scatter_(-1, idx, 1.0)


def pool_region(pixel_emb: torch.Tensor, sim: torch.Tensor, count: int) -> torch.Tensor:
    """Eq. 3-4: ``V^r = V_iᵀ (softmax_p(S) ⊙ top-count mask)``.

    Args:
        pixel_emb: ``B×L×C``.
        sim: ``B×L`` (one text per image) or ``B×N×L`` (every text for every image).
        count: pixels kept per (image, text).
    Returns:
        ``B×C`` or ``B×N×C``.
    """
    weights = sim.softmax(dim=-1) * topk_mask(sim, count)
    if sim.dim() == 2:
        return torch.einsum('bl,blc->bc', weights, pixel_emb.float())
    return torch.einsum('bnl,blc->bnc', weights, pixel_emb.float())


def diagonal(sim: torch.Tensor, rank: int = 0) -> torch.Tensor:
    """``S_ii``: rows of ``B×N×…`` at column ``i + B·rank`` → ``B×…``."""
    b = sim.shape[0]
    rows = torch.arange(b, device=sim.device)
    return sim[rows, rows + b * rank]


def object_embeddings(pixel_emb: torch.Tensor, sim: torch.Tensor, k: float, rank: int = 0) -> torch.Tensor:
    """Positive objects V^r_ii (Eq. 3-4 with area k) ``B×C``; ``sim`` is ``B×N×L``."""
    return pool_region(pixel_emb, diagonal(sim, rank), area_to_count(k, sim.shape[-1]))


def region_embeddings(pixel_emb: torch.Tensor, sim: torch.Tensor, obj_emb: torch.Tensor, k_n: float,
                      rank: int = 0) -> torch.Tensor:
    """All V^r_ij ``B×N×C``: hard-negative regions (area k_n) for j ≠ i, the object ``obj_emb`` on the diagonal."""
    b, n, _ = sim.shape
    regions = pool_region(pixel_emb, sim, area_to_count(k_n, sim.shape[-1]))
    on_diag = torch.zeros(b, n, 1, dtype=torch.bool, device=sim.device)
    on_diag[torch.arange(b), torch.arange(b) + b * rank] = True
    return torch.where(on_diag, obj_emb[:, None, :].to(regions.dtype), regions)


def pixel_logits(sim: torch.Tensor, k: float, k_pix: float, scale: float, rank: int = 0) -> torch.Tensor:
    """Eq. 7 selections as one ``B×N`` matrix: ``S⁻_ij = max_p S_ij / f`` off the diagonal, ``S⁺_ii`` on it.

    Args:
        sim: ``B×N×L`` raw similarities (Eq. 2).
        k: object area (defines the object's n_k pixels).
        k_pix: hardness of the positive (``semi_hard_rank``).
        scale: f.
    """
    b, n, num_pixels = sim.shape
    r = semi_hard_rank(k_pix, area_to_count(k, num_pixels))
    s_pos = diagonal(sim, rank).topk(r + 1, dim=-1).values[:, r] / scale             # B
    s_neg = sim.max(dim=-1).values / scale                                            # B×N
    on_diag = torch.zeros(b, n, dtype=torch.bool, device=sim.device)
    on_diag[torch.arange(b), torch.arange(b) + b * rank] = True
    return torch.where(on_diag, s_pos[:, None].expand(b, n), s_neg)
