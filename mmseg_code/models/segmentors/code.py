"""``CoDe``: image-text co-decomposition (Wu et al., CVPR 2024) on top of :class:`TCL`.

One training step, B images with captions, J nouns per caption, N = J·B noun-major triplets (index j·B + b):

    n, n'   = KgCoOp(N_j), frozen E_t(T(N_j))                          N×D      noun embeddings + targets
    L_kg    = KgLoss(n, n')                                            Eq. 1
    F_v     : M_v = GumbelST(w·cos(V^s, n_gathered) + b)               N×1×h×w  (TCL's image side, texts = nouns)
    H_v     = X_v∗M_v↑ + P_v∗(1−M_v↑)                                  Eq. 4    (TCL's ``fill_background``)
    e_v     = E_v(H_v)                                                 Eq. 6    (shared by TCL_v and L_hcl)
    L^v_seg = TCLLoss(e_v, n, V^s, M)                                  TCL terms, CoDe's official weights
    F_t     : z = [0 ; w·x_t n_j + b]                                  B×(J+1)×L  Eq. 2
              M_t = softmax(z)[1:]                                     Eq. 3
    L^t_seg = TextSegLoss(z, labels)                                   CE over J+1 classes
    H_t     = X_t∗M_t + P_t∗(1−M_t)                                    Eq. 5    N×L×C token embeddings
    e_t     = E_t(H_t) at the original EOT                             Eq. 6
    L_hcl   = InfoNCE(e_v, e_t)                                        Eq. 7    own temperature, gathered
    L       = λ_kg L_kg + λ^v_seg L^v_seg + λ^t_seg L^t_seg + λ_hcl L_hcl   Eq. 8 (each term logged)

Loss keys: ``loss_kg``; TCL's ``loss_tcl_img``, ``loss_tcl_feat``, ``loss_area``, ``loss_neg_area``, ``loss_tv_img``,
``loss_tv_mask`` (each × λ^v_seg); ``loss_seg_txt``; ``loss_hcl``; plus the log-only ``seg_img`` (their sum,
detached; no "loss" in the key so MMEngine does not add it twice).

Invalid (padding) nouns (``noun_valid`` False, noun ``''``) are masked out of every term: L_kg's mean, TCL's terms
(``valid``), Eq. 3's denominator (logit −inf), L^t_seg's labels and L_hcl's rows and columns.

Table 2 ablations (``co_decomposition`` and the prompts' ``learnable``):
    baseline  co_decomposition=False, region prompt off  (image decomposition only: TCL driven by KgCoOp nouns)
    +C        co_decomposition=True, both prompts off   (blanks: mean colour / zero token vectors)
    +C+W      word prompt on
    +C+W+R    both on (main config)

Inference is inherited (only the image segmenter, the decode head); the masker's class embeddings are the
KgCoOp-prompted bare class names (official): the text classifier is ``KgCoOpTextClassifier``, which owns the noun
prompt (``text_encoder.noun_prompt``) this loss trains.
"""
from __future__ import annotations

from typing import Optional

import torch
from mmseg.registry import MODELS

from ...utils.options import check_known_keys
from ..heads.text_segmenter import word_masks
from .tcl import TCL, TrainTexts

DEFAULT_LOSS_WEIGHTS = dict(kg=8.0, seg_img=1.0, seg_txt=1.0, hcl=0.5)


@MODELS.register_module()
class CoDe(TCL):
    """CoDe segmentor.

    Args:
        text_encoder: ``KgCoOpTextClassifier`` config; its ``noun_prompt`` (``KgCoOpNounPrompt``, built with the CLIP
            text encoder) gives the noun embeddings n_j here and the class embeddings at inference.
        kg_loss: ``KgLoss`` config (``form='cos'`` official, ``'sq'`` paper).
        co_decomposition: build and train the text side (text segmenter, L^t_seg, word prompt, L_hcl).
            False = Table 2's baseline (image decomposition only).
        text_segmenter: ``TextSegmenter`` config.
        text_seg_loss: ``TextSegLoss`` config (``label_source='word_labels'`` official, ``'argmax'`` paper).
        region_prompt: ``RegionHighlightPrompt`` config (``learnable=False`` = TCL's zero fill).
        word_prompt: ``WordHighlightPrompt`` config (``length``/``width`` default to the CLIP text tower's).
        hcl_loss: ``InfoNCE`` config of L_hcl (own learnable temperature).
        loss_weights: λ of Eq. 8: ``kg``, ``seg_img``, ``seg_txt``, ``hcl`` (missing keys take the official
            8.0 / 1.0 / 1.0 / 0.5). The λ_hcl sweep: ``--cfg-options model.loss_weights.hcl=0.25``.
        **kwargs: :class:`TCL` / :class:`TextSupervisedSegmentor` arguments (``clip``, ``decode_head``,
            ``loss_seg``, ``data_preprocessor``, ``test_cfg`` …).
    """

    def __init__(self,
                 text_encoder: dict = dict(type='KgCoOpTextClassifier', noun_prompt=dict(type='KgCoOpNounPrompt')),
                 kg_loss: dict = dict(type='KgLoss', form='cos'),
                 co_decomposition: bool = True,
                 text_segmenter: dict = dict(type='TextSegmenter'),
                 text_seg_loss: dict = dict(type='TextSegLoss'),
                 region_prompt: dict = dict(type='RegionHighlightPrompt'),
                 word_prompt: dict = dict(type='WordHighlightPrompt'),
                 hcl_loss: dict = dict(type='InfoNCE'),
                 loss_weights: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(text_encoder=text_encoder, **kwargs)
        te = self.clip.text_encoder
        self.kg_loss = MODELS.build(kg_loss)
        self.region_prompt = MODELS.build(region_prompt)
        self.co_decomposition = bool(co_decomposition)
        if self.co_decomposition:
            self.text_segmenter = MODELS.build(text_segmenter, default_args=dict(text_encoder=te))
            self.text_seg_loss = MODELS.build(text_seg_loss)
            self.word_prompt = MODELS.build(word_prompt, default_args=dict(length=te.context_length, width=te.width))
            self.hcl_loss = MODELS.build(hcl_loss)
        else:
            self.text_segmenter = self.text_seg_loss = self.word_prompt = self.hcl_loss = None
        weights = dict(DEFAULT_LOSS_WEIGHTS)
        check_known_keys(loss_weights or {}, weights, 'CoDe loss_weights')
        weights.update(loss_weights or {})
        self.loss_weights = weights

    # ------------------------------------------------------------------ TCL override points
    def encode_train_texts(self, inputs: torch.Tensor, data_samples: list) -> TrainTexts:
        """Noun-major KgCoOp noun embeddings ``N×D`` (N = J·B), their targets n' and validity.

        Extras: ``kg_target`` (N×D), ``num_nouns`` (J), ``noun_valid`` (B×J).
        """
        device = inputs.device
        b = len(data_samples)
        nouns = [list(s.nouns) for s in data_samples]
        j = len(nouns[0])
        if j == 0 or any(len(n) != j for n in nouns):
            raise ValueError(f'every sample needs the same number J ≥ 1 of noun slots, got {[len(n) for n in nouns]}')
        if all('noun_valid' in s for s in data_samples):
            noun_valid = torch.stack([s.noun_valid for s in data_samples]).to(device=device, dtype=torch.bool)
        else:
            noun_valid = torch.tensor([[bool(w.strip()) for w in n] for n in nouns], device=device)
        flat = [nouns[bi][ji] for ji in range(j) for bi in range(b)]  # index j·B + b
        emb, target = self.text_encoder.noun_prompt.forward_with_targets(flat)
        valid = noun_valid.t().reshape(-1)
        image_index = torch.arange(b, device=device).repeat(j)
        return TrainTexts(emb=emb, image_index=image_index, valid=valid, kg_target=target, num_nouns=j,
                          noun_valid=noun_valid)

    def fill_background(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Eq. 4: H_v = X_v∗M_v + P_v∗(1−M_v) (P_v = 0 and frozen when the region prompt is off)."""
        return self.region_prompt(images, masks)

    # ------------------------------------------------------------------ text side
    def text_side_loss(self, data_samples: list, texts: TrainTexts, image_emb: torch.Tensor) -> dict:
        """F_t, L^t_seg, word highlighting and L_hcl (Eq. 2, 3, 5, 6, 7); returns weighted ``loss_seg_txt``,
        ``loss_hcl``."""
        te = self.clip.text_encoder
        device = image_emb.device
        ids = torch.stack([s.text_ids for s in data_samples]).to(device)                 # B×L
        b, length = ids.shape
        j = texts['num_nouns']
        noun_valid = texts['noun_valid']                                                 # B×J
        eot = te.eot_index(ids)                                                          # B
        noun_emb = texts.emb.view(j, b, -1).transpose(0, 1)                              # B×J×D
        z = self.text_segmenter(ids, noun_emb, noun_valid)                               # B×(J+1)×L
        word_labels = None
        if self.text_seg_loss.label_source == 'word_labels':
            if not all('word_labels' in s for s in data_samples):
                raise KeyError("TextSegLoss(label_source='word_labels') needs word_labels in the data samples")
            word_labels = torch.stack([s.word_labels for s in data_samples]).to(device)
        loss_txt = self.text_seg_loss(z, word_labels, ids, eot, noun_valid)
        m_t = word_masks(z).transpose(0, 1).reshape(j * b, length)                       # N×L, noun-major
        with torch.no_grad():
            x_t = te.embed_tokens(ids)                                                   # B×L×C (frozen)
        eot_n = eot.repeat(j)
        h_t = self.word_prompt(x_t.repeat(j, 1, 1), m_t, eot_n)                          # N×L×C
        e_t = te.encode_embeddings(h_t, eot_n)                                           # N×D
        loss_hcl = self.hcl_loss(image_emb, e_t, valid=texts.valid)
        w = self.loss_weights
        return dict(loss_seg_txt=w['seg_txt'] * loss_txt, loss_hcl=w['hcl'] * loss_hcl)

    # ------------------------------------------------------------------ training
    def loss(self, inputs: torch.Tensor, data_samples: list) -> dict:
        """Eq. 8, every term under its own key (see the module docstring)."""
        self.text_encoder.invalidate_cache()
        w = self.loss_weights
        texts = self.encode_train_texts(inputs, data_samples)
        losses = dict(loss_kg=w['kg'] * self.kg_loss(texts.emb, texts['kg_target'], texts.valid))
        seg_losses, aux = self.image_side_loss(inputs, texts)
        seg_losses = {k: w['seg_img'] * v for k, v in seg_losses.items()}
        losses.update(seg_losses)
        losses['seg_img'] = sum(v.detach() for v in seg_losses.values())
        if self.co_decomposition:
            losses.update(self.text_side_loss(data_samples, texts, aux['image_emb']))
        return losses
