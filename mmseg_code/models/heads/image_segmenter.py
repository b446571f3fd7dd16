"""Image segmenter F_v (TCL's masker) and its text-grounded mask (TCL Sec. 3.2, CoDe Sec. 3.2): the decode head of
TCL and CoDe.

Dense features, for images ``B×3×H×W`` (h = H/p, w = W/p, W_c = CLIP width, D = embedding size):

    X      = E_v^{1..L-1}(images)                         B×(1+h·w)×W_c   frozen CLIP, all blocks but the last
    X'     = Block_L^copy(X) with self-only attention      trainable copy of the last block (MaskCLIP value path;
                                                          ``last_block``: SCLIP / ClearCLIP / NACLIP attention instead,
                                                          mmseg_code/models/training_free/<name>.py)
    F      = reshape(X'[:, P:])                            B×W_c×h×w       prefix (CLS) tokens dropped
    F'     = GDecoder(F)                                   B×W_c×4h×4w
    V^s    = proj(LN(F'))                                  B×D×4h×4w       trainable copy of CLIP ln_post + proj
                                                                          (timm ViT towers: a trainable copy of their
                                                                          token projection T, ``TokenHeadProjection``)

Text-grounded mask (``Sim2Mask``), for text embeddings ``t`` (``N×D``):

    logits[b, n] = w · cos(V^s_b, t_n) + b₀               w = 10, b₀ = −2.5, learnable
    soft = σ(logits)
    hard = 1[σ((logits + G₁ − G₂)/τ) > 0.5] straight-through (Gumbel-sigmoid, τ = 1) in training,
           1[soft > 0.5] when deterministic.

As the decode head (:class:`~mmseg_code.models.heads.open_vocab_head.OpenVocabularyHead`), F_v scores a window by
Sim2Mask's soft masks ``σ(w·cos(V^s, t_s) + b)`` of the text classifier's S synonyms, reduced to K classes by their max;
PAMR, the KP mix, the crop and the background plane follow (the base class).

``last_block='clearclip'`` / ``'naclip'`` replace the tokens by the attention output (no residual, no FFN): the copy's
``ln_2``, ``mlp`` and second layer scale are then unused and get ``requires_grad=False`` (DDP without
``find_unused_parameters``); likewise with ``'maskclip'`` the parameters only q and k use (EVA02's separate
``q_proj``/``k_proj``, q/k norms).

The block is read through ``clip/block_adapter.py``: an open_clip ``ResidualAttentionBlock`` (P = 1) or a timm ViT
block (SigLIP: P = 0; EVA02: P = 1 and rotary embeddings for the window's grid).

TCL's UST stage: the copied block is frozen for the first ``unfreeze_iter`` iterations. It keeps
``requires_grad=True`` throughout (so DDP registers and all-reduces it from the start); while frozen its
output passes through a gradient gate that makes its parameter gradients exactly zero, and
``UnfreezeBlockHook`` drops those gradients before the optimizer step (no weight decay, no Adam state).
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from ..clip.block_adapter import block_ops, ffn_parameters
from ..clip.image_encoder import CLIPFeatures, CLIPImageEncoder
from ..training_free import NO_FFN, last_block as get_last_block
from ..text_classifier import ClassEmbeddings
from ..vocab import reduce_synonyms
from .open_vocab_head import OpenVocabularyHead, cosine_maps


def gumbel_sigmoid(logits: torch.Tensor, tau: float = 1.0, hard: bool = True,
                   threshold: float = 0.5) -> torch.Tensor:
    """Gumbel-sigmoid sample of Bernoulli(σ(logits)); straight-through when ``hard``.

    ``y = σ((logits + G₁ − G₂)/τ)`` with G₁, G₂ ~ Gumbel(0, 1) (their difference is logistic noise);
    ``hard`` returns ``1[y > threshold] − sg(y) + y``: forward value in {0, 1}, gradient of y.
    """
    g1 = -torch.empty_like(logits).exponential_().log()
    g2 = -torch.empty_like(logits).exponential_().log()
    y = torch.sigmoid((logits + g1 - g2) / tau)
    if not hard:
        return y
    y_hard = (y > threshold).to(y.dtype)
    return y_hard - y.detach() + y


@MODELS.register_module()
class Sim2Mask(nn.Module):
    """Text-grounded mask from pixel-text cosine similarity with a learnable affine map.

    Args:
        init_w: initial scale w (10.0).
        init_b: initial bias b (−2.5).
        learnable: whether w, b train.
        gumbel_tau: τ of the training-time Gumbel-sigmoid (1.0).
        threshold: hard-mask threshold (0.5).
    """

    def __init__(self, init_w: float = 10.0, init_b: float = -2.5, learnable: bool = True,
                 gumbel_tau: float = 1.0, threshold: float = 0.5) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(float(init_w)), requires_grad=learnable)
        self.b = nn.Parameter(torch.tensor(float(init_b)), requires_grad=learnable)
        self.gumbel_tau = gumbel_tau
        self.threshold = threshold

    similarity = staticmethod(cosine_maps)

    def affine(self, sim: torch.Tensor) -> torch.Tensor:
        """``w·sim + b``."""
        return self.w.to(sim.dtype) * sim + self.b.to(sim.dtype)

    def forward(self, feats: torch.Tensor, text: torch.Tensor,
                feats_normalized: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and soft masks, both ``B×N×H×W`` (``feats_normalized`` as in :meth:`similarity`).

        The soft masks are fp32 also under fp16 autocast: near-empty masks give the masked pooling of TCL's loss
        gradients up to 1/eps, which would overflow fp16 before the sigmoid's (tiny) derivative scales them down.
        """
        logits = self.affine(self.similarity(feats, text, feats_normalized))
        return logits, torch.sigmoid(logits.float())

    def hard(self, logits: torch.Tensor, deterministic: Optional[bool] = None) -> torch.Tensor:
        """Hard mask: straight-through Gumbel in training, ``σ(logits) > threshold`` when deterministic."""
        if deterministic is None:
            deterministic = not self.training
        if deterministic:
            return (torch.sigmoid(logits) > self.threshold).to(logits.dtype)
        return gumbel_sigmoid(logits, self.gumbel_tau, hard=True, threshold=self.threshold)


class _ZeroGrad(torch.autograd.Function):
    """Identity forward; zero gradient backward (the frozen-block gate)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(grad)


class TokenHeadProjection(nn.Module):
    """Per-pixel copy of a timm-ViT CLIP's token projection ``T`` (``CLIPTimmViTEncoder.token_head``: final norm,
    SigLIP's attention-pool value path or EVA02's ``head``, open_clip's ``head``), the ``ImageProjection`` of those
    towers: ``B×W_c×H×W`` → ``B×D×H×W``; its weights train, except the attention pool's latent query and q / k
    parts, which the value path does not read (``requires_grad=False``: DDP without ``find_unused_parameters``)."""

    def __init__(self, token_head: nn.Module) -> None:
        super().__init__()
        self.head = copy.deepcopy(token_head)
        self.head.requires_grad_(True)
        pool = getattr(self.head, 'attn_pool', None)
        if pool is not None:                             # the value path reads no latent query, q or k
            for m in (pool.q, pool.q_norm, pool.k_norm):
                m.requires_grad_(False)
            pool.latent.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ImageProjection(nn.Module):
    """Per-pixel ``LN`` + ``W_c→D`` projection, initialised from CLIP's ``ln_post`` and ``proj``.

    ``B×W_c×H×W`` → ``B×D×H×W``. Parameters for ViT-B/16: 2·768 + 768·512 = 394,752.
    """

    def __init__(self, ln_post: nn.LayerNorm, proj: torch.Tensor) -> None:
        super().__init__()
        self.ln = copy.deepcopy(ln_post)
        self.proj = nn.Parameter(proj.detach().clone())
        self.ln.requires_grad_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln(x.permute(0, 2, 3, 1)) @ self.proj.to(x.dtype)
        return x.permute(0, 3, 1, 2)


@MODELS.register_module()
class ImageSegmenter(OpenVocabularyHead):
    """F_v: TCL's masker on top of the frozen CLIP image encoder, the decode head of TCL and CoDe.

    Args:
        image_encoder: the frozen ``CLIPImageEncoder`` (passed by the segmentor; its last block, ``ln_post``
            and ``proj`` are deep-copied, its patch size read; the encoder itself is not stored).
        decoder: ``GatedDecoder`` config (``channels`` filled from the CLIP width).
        sim2mask: ``Sim2Mask`` config.
        unfreeze_iter: iteration from which the copied block trains (TCL/CoDe: 30000; 0 = from the start).
            Read by ``UnfreezeBlockHook``.
        last_block: attention of the copied block: ``'maskclip'`` (TCL/CoDe: self-only, the value path),
            ``'sclip'``, ``'clearclip'`` or ``'naclip'`` (the training-free blocks, ``mmseg_code.models.training_free``).
        sigma: NACLIP's Gaussian window σ in patches (``last_block='naclip'`` only).

    Attributes:
        block: the trainable copy of the last CLIP block.
        decoder: ``GatedDecoder``.
        image_proj: ``ImageProjection``.
        sim2mask: ``Sim2Mask``.
        block_trainable (bool): False while the copied block is frozen (zero gradients, see module docstring).
    """

    def __init__(self,
                 image_encoder: CLIPImageEncoder,
                 decoder: dict = dict(type='GatedDecoder', n_layers=2, double=True),
                 sim2mask: dict = dict(type='Sim2Mask', init_w=10.0, init_b=-2.5),
                 unfreeze_iter: int = 30000,
                 last_block: str = 'maskclip',
                 sigma: float = 5.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(patch_size=image_encoder.patch_size, init_cfg=init_cfg)
        self.last_block = last_block
        self.block_fn = get_last_block(last_block)
        self.sigma = float(sigma)
        self.block = copy.deepcopy(image_encoder.blocks[-1])
        self.block.requires_grad_(True)
        self.num_prefix_tokens = int(getattr(image_encoder, 'num_prefix_tokens', 1))
        if last_block in NO_FFN:                         # unused by the block's forward: never a gradient
            for p in ffn_parameters(self.block):
                p.requires_grad_(False)
        if last_block == 'maskclip':                     # the value path reads no q, k (separate ones: EVA02)
            for p in block_ops(self.block).qk_parameters():
                p.requires_grad_(False)
        decoder = dict(decoder)
        decoder.setdefault('channels', image_encoder.width)
        self.decoder = MODELS.build(decoder)
        if getattr(image_encoder, 'token_head', None) is not None:      # timm ViT towers (SigLIP, EVA02)
            self.image_proj = TokenHeadProjection(image_encoder.token_head)
        else:
            self.image_proj = ImageProjection(image_encoder.visual.ln_post, image_encoder.visual.proj)
        self.sim2mask = MODELS.build(sim2mask)
        self.unfreeze_iter = unfreeze_iter
        self.block_trainable = unfreeze_iter <= 0

    def init_weights(self) -> None:
        # The block and projection are copies of CLIP weights; only an explicit init_cfg may change them.
        if self.init_cfg is not None:
            super().init_weights()

    def set_block_trainable(self, trainable: bool) -> None:
        """Freeze (False) or unfreeze (True) the copied last block (TCL's UST stage)."""
        self.block_trainable = bool(trainable)

    def frozen_parameters(self) -> list[nn.Parameter]:
        """Parameters that currently must not be updated (the block while frozen)."""
        return [] if self.block_trainable else list(self.block.parameters())

    def dense_features(self, tokens: torch.Tensor, grid: tuple[int, int], normalize: bool = False) -> torch.Tensor:
        """Dense features V^s.

        Args:
            tokens: frozen CLIP tokens before the last block, ``B×(P+h·w)×W_c`` (P prefix tokens).
            grid: ``(h, w)``.
            normalize: L2-normalise over channels.
        Returns:
            ``B×D×(s·h)×(s·w)`` with s the decoder scale (4).
        """
        if self.last_block == 'naclip':
            x = self.block_fn(self.block, tokens, grid, sigma=self.sigma)
        else:
            x = self.block_fn(self.block, tokens, grid)
        if not self.block_trainable and torch.is_grad_enabled():
            x = _ZeroGrad.apply(x)
        b, _, c = x.shape
        x = x[:, self.num_prefix_tokens:].transpose(1, 2).reshape(b, c, grid[0], grid[1])
        x = self.image_proj(self.decoder(x))
        return F.normalize(x, dim=1, eps=1e-6) if normalize else x

    def forward(self, inputs: CLIPFeatures) -> torch.Tensor:
        """mmseg's head call: V^s ``B×D×4h×4w`` (unnormalised) of a window's frozen CLIP read-outs."""
        return self.dense_features(inputs.tokens, inputs.grid)

    def class_scores(self, feats: torch.Tensor, classes: ClassEmbeddings, test_cfg) -> torch.Tensor:
        """Sim2Mask's soft masks of the S synonyms, max over each class's synonyms: ``B×K×4h×4w``."""
        _, masks = self.sim2mask(feats, classes.masker, feats_normalized=True)
        return reduce_synonyms(masks, classes.syn2cls, classes.num_classes).float()
