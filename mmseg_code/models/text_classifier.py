"""Text classifier: a vocabulary and the cache of its class embeddings (mmseg's ``text_encoder`` slot).

mmseg's ``MultimodalEncoderDecoder.encode_decode`` calls ``text_encoder()`` (no arguments) once per window. This module
holds the current :class:`~mmseg_code.models.vocab.Vocabulary` (K classes, S prompted synonyms, optional background)
and returns its :class:`ClassEmbeddings`, computed once per vocabulary and device and cached until a training step
(:meth:`TextClassifier.invalidate_cache`) or weight loading changes the text side:

    masker  S×D   the classes the decode head compares pixels with (L2-normalised)
                  TCL  (:class:`TextClassifier`):       e_s = mean_{τ∈T} E_t(τ(s)),  ê_s = e_s / ||e_s||
                       (TCL's template ensemble: unnormalised mean over the templates T, normalised once)
                  CoDe (:class:`KgCoOpTextClassifier`): n_s = normalize(E_t([SOT] ctx s [EOT]))  (bare names
                       through the learned KgCoOp context, the noun prompt CoDe trains)
    kp      S×D   the KP branch's template ensemble (``test_cfg.kp_templates``; the masker's own tensor when it is
                  the same ensemble), or None without a KP branch. Two ensembles (``ensemble=``):
                  'mean_normalize'            ê = normalize(mean_τ E_t(τ(s)))             TCL (``TextClassifier``)
                  'normalize_mean_normalize'  ê = normalize(mean_τ normalize(E_t(τ(s))))  CoDe
                      (``KgCoOpTextClassifier``; official ``build_text_embedding_from_text_tokens``; CLIP's own form)
    syn2cls S     the class index of each synonym

The frozen CLIP text tower E_t belongs to the segmentor's ``OpenCLIP`` (one open_clip model feeds the image encoder
and this classifier); the classifier keeps a plain reference to it, so its weights are stored and counted once.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ..utils.tool import UserError
from .vocab import Vocabulary, check_distinct_tokens, check_tokenizable, get_templates


class NoVocabularyError(UserError, RuntimeError):
    """Inference was asked for before any vocabulary was set."""


class ClassEmbeddings(NamedTuple):
    """What :meth:`TextClassifier.forward` returns (see the module docstring)."""
    masker: torch.Tensor                      # S×D
    kp: Optional[torch.Tensor]                # S×D or None
    syn2cls: torch.Tensor                     # S (int64)
    num_classes: int                          # K foreground classes
    background: bool                          # output channel 0 is the constant background plane


ENSEMBLES = ('mean_normalize', 'normalize_mean_normalize')


def check_ensemble(ensemble: str) -> str:
    """``ensemble`` if it is one of :data:`ENSEMBLES`, else a one-line ``ValueError``."""
    if ensemble not in ENSEMBLES:
        raise ValueError(f'Unknown template ensemble {ensemble!r}: use one of {", ".join(ENSEMBLES)}.')
    return ensemble


@torch.no_grad()
def encode_with_templates(text_encoder, names: Sequence[str], templates: Union[str, Sequence[str]] = 'custom',
                          chunk_size: int = 1024, ensemble: str = 'mean_normalize') -> torch.Tensor:
    """Template ensemble: ``S×D`` L2-normalised embeddings of ``names``.

    Every (name, template) prompt is encoded by the CLIP text encoder (``encode``, unnormalised; ``chunk_size`` prompts
    at a time), then combined over the templates:

    * ``'mean_normalize'`` (TCL, kakaobrain/tcl ``build_text_embedding``): average the unnormalised embeddings,
      normalise once;
    * ``'normalize_mean_normalize'`` (official CoDe ``build_text_embedding_from_text_tokens``, and CLIP's / open_clip's
      ``build_zero_shot_classifier``): normalise each template's embedding, average, normalise again.
    """
    check_ensemble(ensemble)
    templates = get_templates(templates)
    check_tokenizable(text_encoder.tokenizer, names, templates, text_encoder.context_length)
    prompts = [t.format(n) for n in names for t in templates]
    embs = []
    for i in range(0, len(prompts), chunk_size):
        embs.append(text_encoder.encode(text_encoder.tokenize(prompts[i:i + chunk_size])).float())
    emb = torch.cat(embs).reshape(len(names), len(templates), -1)
    if ensemble == 'normalize_mean_normalize':
        emb = F.normalize(emb, dim=-1)
    return F.normalize(emb.mean(dim=1), dim=-1)


@MODELS.register_module()
class TextClassifier(BaseModule):
    """Vocabulary → cached class embeddings with TCL's template ensemble (TCL, MGCA).

    Args:
        text_encoder: the frozen ``CLIPTextEncoder`` (passed by the segmentor; kept as a plain reference).
        templates: template set of the masker's class embeddings (TCL: ``'custom'``, its 9 templates).
        kp_templates: template set of the KP branch, None without one (passed by the segmentor: its
            ``test_cfg.kp_templates`` when ``test_cfg.kp_weight > 0``).
        ensemble: how the template embeddings are combined (:func:`encode_with_templates`); TCL's
            ``'mean_normalize'`` by default.
        init_cfg: mmengine init config (unused: the classifier has no weights of its own).

    Attributes:
        vocabulary (Vocabulary | None): the current vocabulary (:meth:`set_vocabulary`).
    """

    def __init__(self,
                 text_encoder: nn.Module,
                 templates: Union[str, Sequence[str]] = 'custom',
                 kp_templates: Union[None, str, Sequence[str]] = None,
                 ensemble: str = 'mean_normalize',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        object.__setattr__(self, '_text_encoder', text_encoder)    # the segmentor's OpenCLIP owns it
        self.ensemble = check_ensemble(ensemble)
        self.templates = get_templates(templates)
        self.kp_templates = None if kp_templates is None else get_templates(kp_templates)
        self.vocabulary: Optional[Vocabulary] = None
        self._cache: Optional[tuple] = None                       # (key, ClassEmbeddings)

    @property
    def text_encoder(self) -> nn.Module:
        """The frozen CLIP text tower E_t."""
        return self._text_encoder

    # ------------------------------------------------------------------ vocabulary
    def set_vocabulary(self, classes, background: Union[str, bool] = 'auto') -> Vocabulary:
        """Use ``classes`` from now on (parsed and validated by :class:`Vocabulary`, its prompted names distinct for
        the CLIP tokenizer); the embeddings are computed lazily, once."""
        vocab = Vocabulary(classes, background)
        check_distinct_tokens(self._text_encoder.tokenizer, vocab.synonyms)
        if self.vocabulary is None or vocab.key != self.vocabulary.key:
            self.vocabulary = vocab
            self._cache = None
        return self.vocabulary

    def require_vocabulary(self) -> Vocabulary:
        """The current vocabulary; a :class:`NoVocabularyError` (one line) when none is set."""
        if self.vocabulary is None:
            raise NoVocabularyError('No vocabulary: set `vocabulary` in the model config, call '
                                    'model.set_vocabulary(names), or set model.dataset_meta (DatasetVocabularyHook).')
        return self.vocabulary

    def invalidate_cache(self) -> None:
        """Forget the cached embeddings (their text side may have changed: a training step)."""
        self._cache = None

    def _load_from_state_dict(self, *args, **kwargs):
        self._cache = None                                        # loaded weights may change the embeddings
        return super()._load_from_state_dict(*args, **kwargs)

    # ------------------------------------------------------------------ embeddings
    @property
    def masker_templates(self) -> Optional[list]:
        """The template set whose ensemble :meth:`encode_names` is (None when it is not a template ensemble)."""
        return self.templates

    def encode_names(self, names: Sequence[str]) -> torch.Tensor:
        """Masker-side class embeddings ``S×D`` (L2-normalised): the template ensemble of ``templates``."""
        return encode_with_templates(self._text_encoder, names, self.templates, ensemble=self.ensemble)

    @torch.no_grad()
    def forward(self) -> ClassEmbeddings:
        """:class:`ClassEmbeddings` of the current vocabulary (cached per vocabulary and device)."""
        vocab = self.require_vocabulary()
        device = self._text_encoder.token_embedding.weight.device
        key = (vocab.key, str(device))
        if self._cache is None or self._cache[0] != key:
            names = vocab.synonyms
            masker = self.encode_names(names).detach()
            kp = None
            if self.kp_templates is not None:
                kp = masker if self.kp_templates == self.masker_templates else \
                    encode_with_templates(self._text_encoder, names, self.kp_templates, ensemble=self.ensemble).detach()
            syn2cls = torch.tensor(vocab.synonym_to_class, device=device)
            self._cache = (key, ClassEmbeddings(masker, kp, syn2cls, len(vocab.names), vocab.has_background))
        return self._cache[1]


@MODELS.register_module()
class KgCoOpTextClassifier(TextClassifier):
    """CoDe's classifier: the bare class names through the learned KgCoOp context (official CoDe inference).

    As the official CoDe evaluation (``build_seg_inference``): the masker's class embeddings are the KgCoOp prompts of
    the bare names (``build_text_embedding_from_noun``); the KP branch's are the frozen encoder's template ensemble
    without ctx, each template embedding normalised before the mean (``build_text_embedding_from_text_tokens``).

    Args:
        text_encoder: the frozen ``CLIPTextEncoder`` (passed by the segmentor).
        noun_prompt: ``KgCoOpNounPrompt`` config; the module CoDe trains with its nouns (``noun_prompt.ctx``).
        kp_templates: as :class:`TextClassifier`.
        ensemble: the KP branch's template ensemble; ``'normalize_mean_normalize'`` (official CoDe) by default,
            ``'mean_normalize'`` for TCL's.
    """

    def __init__(self,
                 text_encoder: nn.Module,
                 noun_prompt: dict = dict(type='KgCoOpNounPrompt'),
                 kp_templates: Union[None, str, Sequence[str]] = None,
                 ensemble: str = 'normalize_mean_normalize',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(text_encoder, templates='none', kp_templates=kp_templates, ensemble=ensemble,
                         init_cfg=init_cfg)
        self.noun_prompt = MODELS.build(noun_prompt, default_args=dict(text_encoder=text_encoder))

    @property
    def masker_templates(self) -> None:
        return None

    @torch.no_grad()
    def encode_names(self, names: Sequence[str]) -> torch.Tensor:
        """KgCoOp prompts of the bare names ``S×D`` (names get the L − M tokens left by the M context vectors)."""
        np_ = self.noun_prompt
        check_tokenizable(np_.text_encoder.tokenizer, names, ['{}'], np_.context_length - np_.n_ctx)
        return np_(list(names)).float()
