"""``TrainingFreeHead``: the open-vocabulary decode head of the training-free segmentors (MaskCLIP, SCLIP, ClearCLIP,
NACLIP), on the frozen CLIP's own last block with that method's attention (``mmseg_code.models.training_free``).

For a window's frozen CLIP read-outs (tokens X before the last block, ``B×(P+h·w)×W``, grid h×w) and the text
classifier's S synonym embeddings ``t`` (``S×D``, L2-normalised template ensembles):

    Z    = LastBlock_method(X)                        B×(P+h·w)×W   the frozen block's weights, the method's attention
    V    = reshape(ln_post(Z[:, P:]) · proj)          B×D×h×w       (P prefix tokens dropped; timm ViT towers: their
                                                                    token projection T instead of ln_post · proj)
    c    = cos(V, t)↑                                 B×S×(u·h)×(u·w)  bilinear ×u (``upsample``, 4: the resolution of
                                                                    TCL's masks, where PAMR runs)
    m_s  = softmax_s(logit_scale · c)                 probabilities over all synonyms (SCLIP/ClearCLIP/NACLIP)
    m_k  = max_{s ∈ syn(k)} m_s                       B×K×(u·h)×(u·w)

then the shared protocol of :class:`OpenVocabularyHead`: PAMR (``test_cfg.pamr``), KP mix (``test_cfg.kp_weight``;
0 in the training-free configs), resize to the window, crop, and with a background the constant plane
``test_cfg.bg_thresh`` as channel 0: a pixel is background iff its best class probability is ≤ bg_thresh (the
methods' ``prob_thd`` rule). Differences from the official code, kept for one protocol across methods: the
background is this plugin's constant plane, not a prompted class with synonyms; the softmax is taken per window, before
mmseg averages the sliding windows (the official code averages logits, then takes the softmax).

The head has no weights: it keeps a plain reference to the segmentor's frozen ``CLIPImageEncoder`` (its last block,
``ln_post``, ``proj``), stored once under ``clip.``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from ...utils.options import OptionError
from ..clip.image_encoder import CLIPFeatures, CLIPImageEncoder
from ..text_classifier import ClassEmbeddings
from ..training_free import LAST_BLOCKS, last_block as get_last_block
from ..vocab import reduce_synonyms
from .open_vocab_head import OpenVocabularyHead, cosine_maps


@MODELS.register_module()
class TrainingFreeHead(OpenVocabularyHead):
    """Dense features from the frozen CLIP's last block with a training-free attention; softmax class scores.

    Args:
        image_encoder: the frozen ``CLIPImageEncoder`` (passed by the segmentor; referenced, not stored).
        last_block: ``'maskclip'`` | ``'sclip'`` | ``'clearclip'`` | ``'naclip'``.
        logit_scale: temperature of the softmax over synonyms (SCLIP, NACLIP: 40; ClearCLIP: 50).
        sigma: NACLIP's Gaussian window σ in patches (5); ignored by the other blocks.
        upsample: bilinear upsampling u of the cosine maps before the softmax (4: PAMR at stride p/4, as TCL's).
        init_cfg: mmengine init config (unused: no weights).
    """

    def __init__(self,
                 image_encoder: CLIPImageEncoder,
                 last_block: str = 'maskclip',
                 logit_scale: float = 40.0,
                 sigma: float = 5.0,
                 upsample: int = 4,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(patch_size=image_encoder.patch_size, init_cfg=init_cfg)
        self.block_fn = get_last_block(last_block)
        self.last_block = last_block
        if logit_scale <= 0 or sigma <= 0 or int(upsample) < 1:
            raise OptionError(f'TrainingFreeHead: logit_scale and sigma must be > 0 and upsample >= 1, got '
                              f'{logit_scale}, {sigma}, {upsample}.')
        self.logit_scale = float(logit_scale)
        self.sigma = float(sigma)
        self.upsample = int(upsample)
        object.__setattr__(self, '_image_encoder', image_encoder)     # the segmentor's OpenCLIP owns it
        if not getattr(image_encoder, 'is_vit', True) and last_block != 'maskclip':
            raise OptionError(f"TrainingFreeHead: last_block={last_block!r} needs a ViT CLIP; a convolutional CLIP "
                              f"(open_clip ModifiedResNet, timm ConvNeXt) has MaskCLIP's read-out only "
                              f"(last_block='maskclip').")

    @property
    def image_encoder(self) -> CLIPImageEncoder:
        return self._image_encoder

    def extra_repr(self) -> str:
        return (f'last_block={self.last_block!r}, logit_scale={self.logit_scale}, sigma={self.sigma}, '
                f'upsample={self.upsample}')

    def block_tokens(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Z: the frozen last block with the method's attention, ``B×(1+h·w)×W``."""
        block = self.image_encoder.blocks[-1]
        if self.last_block == 'naclip':
            return self.block_fn(block, tokens, grid, sigma=self.sigma)
        return self.block_fn(block, tokens, grid)

    def dense_features(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """V: ``B×D×h×w`` (unnormalised) from the tokens before the last block."""
        p = int(getattr(self.image_encoder, 'num_prefix_tokens', 1))
        z = self.image_encoder.project(self.block_tokens(tokens, grid)[:, p:])
        return z.transpose(1, 2).reshape(tokens.shape[0], -1, grid[0], grid[1])

    @torch.no_grad()
    def forward(self, inputs: CLIPFeatures) -> torch.Tensor:
        """mmseg's head call: V ``B×D×h×w`` (unnormalised) of a window's frozen CLIP read-outs (a ResNet CLIP: its
        MaskCLIP read-out, ``inputs.dense``; ``clip/resnet_encoder.py``)."""
        if inputs.tokens is None:
            return inputs.dense
        return self.dense_features(inputs.tokens, inputs.grid)

    def class_scores(self, feats: torch.Tensor, classes: ClassEmbeddings, test_cfg) -> torch.Tensor:
        """Softmax probabilities over the S synonyms, max over each class's synonyms: ``B×K×(u·h)×(u·w)``."""
        cos = cosine_maps(feats, classes.masker, feats_normalized=True).float()
        if self.upsample > 1:
            cos = F.interpolate(cos, scale_factor=self.upsample, mode='bilinear', align_corners=False)
        probs = (self.logit_scale * cos).softmax(dim=1)
        return reduce_synonyms(probs, classes.syn2cls, classes.num_classes).float()


__all__ = ['TrainingFreeHead', 'LAST_BLOCKS']
