"""Text segmenter F_t of CoDe (Sec. 3.2, Eq. 2–3): word masks M_t of a caption for each of its J nouns.

Pipeline (B captions, L = 77 tokens, J nouns per caption, C = text width, D = joint embedding size)::

    f    = E_t.encode_dense(ids)                    B×L×C   frozen CLIP text transformer, last block, pre-ln_final,
                                                            causal, no grad (official)
    x_t  = normalize(Blocks₂(f))                    B×L×C   two learnable CLIP residual attention blocks (LN, MHA,
                                                            QuickGELU MLP 4×), no attention mask (official) or a
                                                            key-padding mask (``attn_mask='padding'``)
    ℓ_j  = w · x_t n_j + b                          B×J×L   Eq. 2, w = 10, b = 0 learnable
    z    = [0 ; ℓ_1 … ℓ_J]                          B×(J+1)×L  constant zero logit = "belongs to no noun"
    m_j  = softmax(z)[1 + j]                        B×J×L   Eq. 3: m_{j,i} = exp(ℓ_{j,i}) / (1 + Σ_j' exp(ℓ_{j',i}))

Invalid (padding) nouns get the logit −inf, so they drop out of the denominator of Eq. 3 exactly (their mask is 0),
and the result equals the one computed without them.

x_t (C) is dotted with n_j (D): the official design requires C = D (ViT-B/16: 512 = 512; the tiny test CLIP: 64 = 64).
``proj=True`` adds a learnable bias-free C→D linear map for CLIPs with C ≠ D; without it a mismatch raises.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from open_clip.transformer import QuickGELU, ResidualAttentionBlock


def word_mask_logits(logits: torch.Tensor, noun_valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Prepend the constant background logit 0 and mask invalid nouns (Eq. 3's softmax input).

    Args:
        logits: ℓ, ``B×J×L``.
        noun_valid: ``B×J`` bool, or None (all valid).
    Returns:
        ``B×(J+1)×L`` class logits; class 0 = no noun, class j+1 = noun j.
    """
    if noun_valid is not None:
        logits = logits.masked_fill(~noun_valid.bool().unsqueeze(-1), float('-inf'))
    zero = logits.new_zeros(logits.shape[0], 1, logits.shape[2])
    return torch.cat([zero, logits], dim=1)


def word_masks(class_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 3: word masks ``B×J×L`` from the ``B×(J+1)×L`` class logits (softmax in fp32, background dropped)."""
    return class_logits.float().softmax(dim=1)[:, 1:]


@MODELS.register_module()
class TextSegmenter(BaseModule):
    """F_t: per-token text features → word logits ℓ (Eq. 2) and word masks (Eq. 3).

    Args:
        text_encoder: the frozen ``CLIPTextEncoder`` (passed by the segmentor through ``default_args``); only its
            ``encode_dense``/``eot_index``/``width``/``embed_dim`` are used.
        num_layers: learnable residual attention blocks on top of E_t (2).
        num_heads: heads per block; None = width // 64 (CLIP's head width: 8 for width 512).
        mlp_ratio: MLP hidden size / width (4).
        attn_mask: ``'none'`` (official: bidirectional, padding attended) or ``'padding'`` (keys after EOT masked).
        init_scale / init_bias: w and b of Eq. 2 (10.0 / 0.0), both learnable.
        proj: add a learnable C→D projection (needed only when the text width C differs from D).
    """

    def __init__(self,
                 text_encoder: nn.Module,
                 num_layers: int = 2,
                 num_heads: Optional[int] = None,
                 mlp_ratio: float = 4.0,
                 attn_mask: str = 'none',
                 init_scale: float = 10.0,
                 init_bias: float = 0.0,
                 proj: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if text_encoder is None:
            raise ValueError('TextSegmenter needs the frozen CLIP text encoder (text_encoder=...).')
        if attn_mask not in ('none', 'padding'):
            raise ValueError(f"attn_mask must be 'none' or 'padding', got {attn_mask!r}")
        object.__setattr__(self, '_text_encoder', text_encoder)  # shared, not a registered submodule
        width, embed_dim = int(text_encoder.width), int(text_encoder.embed_dim)
        if width != embed_dim and not proj:
            raise ValueError(f'TextSegmenter dots token features (width {width}) with noun embeddings (dim '
                             f'{embed_dim}); they differ for this CLIP, so set proj=True.')
        if num_heads is None:
            num_heads = max(1, width // 64)
        if width % num_heads:
            raise ValueError(f'width {width} is not divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        self.attn_mask = attn_mask
        self.blocks = nn.ModuleList([
            ResidualAttentionBlock(width, num_heads, mlp_ratio=mlp_ratio, act_layer=QuickGELU, batch_first=True)
            for _ in range(num_layers)
        ])
        self.proj = nn.Linear(width, embed_dim, bias=False) if proj else None
        self.logit_scale = nn.Parameter(torch.tensor(float(init_scale)))  # w
        self.logit_bias = nn.Parameter(torch.tensor(float(init_bias)))  # b

    def init_weights(self) -> None:
        # PyTorch default init of the blocks (official); mmengine's init_cfg only if one is given.
        if self.init_cfg is not None:
            super().init_weights()

    @property
    def text_encoder(self) -> nn.Module:
        return self._text_encoder

    def _padding_mask(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Additive ``(B·heads)×L×L`` mask with −inf on key positions after EOT."""
        pos = torch.arange(ids.shape[1], device=ids.device)
        pad = pos.unsqueeze(0) > self._text_encoder.eot_index(ids).unsqueeze(1)  # B×L
        mask = torch.zeros(pad.shape, dtype=dtype, device=ids.device).masked_fill(pad, float('-inf'))
        mask = mask.unsqueeze(1).expand(-1, ids.shape[1], -1)
        return mask.repeat_interleave(self.num_heads, dim=0)

    def token_features(self, ids: torch.Tensor) -> torch.Tensor:
        """x_t = normalize(Blocks(E_t.encode_dense(ids))): ``B×L×C`` (or ``B×L×D`` with ``proj``)."""
        with torch.no_grad():
            f = self._text_encoder.encode_dense(ids)
        f = f.detach()
        mask = self._padding_mask(ids, f.dtype) if self.attn_mask == 'padding' else None
        for blk in self.blocks:
            f = blk(f, attn_mask=mask)
        if self.proj is not None:
            f = self.proj(f)
        return F.normalize(f, dim=-1)

    def logits(self, x_t: torch.Tensor, noun_emb: torch.Tensor) -> torch.Tensor:
        """Eq. 2: ℓ = w · x_t n_j + b, ``B×J×L`` from x_t ``B×L×C`` and n ``B×J×C``."""
        sim = torch.einsum('blc,bjc->bjl', x_t, noun_emb.to(x_t.dtype))
        return self.logit_scale * sim + self.logit_bias

    def forward(self,
                ids: torch.Tensor,
                noun_emb: torch.Tensor,
                noun_valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Class logits ``B×(J+1)×L`` (class 0 = the constant 0 "no noun" logit) for captions ``ids`` ``B×L``,
        noun embeddings ``B×J×D`` and validity ``B×J``. ``word_masks()`` of the result gives Eq. 3's M_t."""
        return word_mask_logits(self.logits(self.token_features(ids), noun_emb), noun_valid)
