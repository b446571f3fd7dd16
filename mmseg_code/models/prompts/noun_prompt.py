"""KgCoOp noun prompts: the noun embedding n_j of CoDe (Sec. 3.2) and its knowledge-guided target n'_j (Eq. 1).

Prompt of noun N_j (context length L = 77, M = ``n_ctx`` = 16)::

    ids      = [SOT] + [·]×M + BPE(N_j) + [EOT] + 0-padding          N×L   (BPE(N_j) truncated to L−M−2 tokens)
    embeds   = token_embedding(ids);  embeds[:, 1:1+M] = ctx            N×L×C (ctx: M×C, learnable)
    n_j      = normalize(E_t(embeds) at EOT = 1+M+|BPE(N_j)|)          N×D

``ctx`` is initialised from the CLIP token embeddings at positions 1..M of ``"a photo of" + " x"*50``, i.e. the tokens
"a photo of x … x" (as the official code). The text encoder stays frozen; only ``ctx`` learns.

Knowledge-guided target (no grad, frozen encoder, no ctx)::

    n'_j = normalize(E_t(tokenize(T(N_j))))                               N×D

with T = a template drawn per noun from the 80 CLIP ImageNet templates by a seeded generator (``kg_templates=
'imagenet80'``, official code) or the fixed ``"a photo of a {}."`` (``kg_templates='photo'``, paper text).

Efficiency: the BPE ids of every noun are cached (LRU, nouns repeat a lot in captions), templates are tokenised once
into a prefix and a suffix around ``{}``, so a step only concatenates cached id lists and does one small host→device
copy of the ``2N×L`` id matrix. Tokenising "prefix + noun + suffix" piecewise equals tokenising the formatted sentence
because CLIP's BPE never merges across its pre-tokeniser's word/punctuation boundaries; nouns that start or end with
punctuation (where "u.s." + "." would merge) are tokenised as whole sentences (a test checks all 80 templates).

The text encoder is a shared, frozen submodule of the segmentor; this module keeps a plain (unregistered) reference
to it so its weights are neither duplicated in the state dict nor counted twice.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ..vocab import get_templates

PHOTO_TEMPLATE = 'a photo of a {}.'


def _piecewise_exact(noun: str) -> bool:
    """True when BPE(prefix + noun + suffix) == BPE(prefix) + BPE(noun) + BPE(suffix) for the templates: the noun
    starts and ends with a letter or digit, so CLIP's pre-tokeniser splits at both of its ends."""
    s = noun.strip()
    return not s or (s[0].isalnum() and s[-1].isalnum())


@MODELS.register_module()
class KgCoOpNounPrompt(BaseModule):
    """Learnable-context noun prompts (KgCoOp) encoded by the frozen CLIP text encoder.

    Args:
        text_encoder: the frozen ``CLIPTextEncoder`` (passed by the segmentor through ``default_args``).
        n_ctx: number M of learnable context vectors.
        ctx_init: text whose token embeddings at positions 1..M initialise ``ctx``.
        kg_templates: ``'imagenet80'`` (official: random one of the 80 ImageNet templates per noun and step),
            ``'photo'`` (paper: ``"a photo of a {}."``) or an explicit list of ``{}`` templates.
        seed: seed of the template generator (reproducible targets).
        cache_size: maximum number of cached noun BPE id lists (LRU).
    """

    def __init__(self,
                 text_encoder: nn.Module,
                 n_ctx: int = 16,
                 ctx_init: str = 'a photo of' + ' x' * 50,
                 kg_templates: str | Sequence[str] = 'imagenet80',
                 seed: int = 0,
                 cache_size: int = 65536,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if text_encoder is None:
            raise ValueError('KgCoOpNounPrompt needs the frozen CLIP text encoder (text_encoder=...).')
        object.__setattr__(self, '_text_encoder', text_encoder)  # shared, not a registered submodule
        self.n_ctx = int(n_ctx)
        self.context_length = int(text_encoder.context_length)
        if self.n_ctx + 3 > self.context_length:
            raise ValueError(f'n_ctx={n_ctx} leaves no room for a noun in context length {self.context_length}.')
        self.sot = int(text_encoder.sot_token_id)
        self.eot = int(text_encoder.eot_token_id)
        self.max_noun_tokens = self.context_length - self.n_ctx - 2
        with torch.no_grad():
            init_ids = text_encoder.tokenize([ctx_init])
            ctx = text_encoder.embed_tokens(init_ids)[0, 1:1 + self.n_ctx].detach().clone().float()
        self.ctx = nn.Parameter(ctx)  # M×C

        if isinstance(kg_templates, str):
            if kg_templates == 'imagenet80':
                templates = get_templates('imagenet80')
            elif kg_templates == 'photo':
                templates = [PHOTO_TEMPLATE]
            else:
                templates = [kg_templates]
        else:
            templates = list(kg_templates)
        for t in templates:
            if t.count('{}') != 1:
                raise ValueError(f'template {t!r} must contain exactly one "{{}}"')
        self.templates = templates
        bpe = self._bpe
        self._template_parts = [(bpe(t.split('{}')[0]), bpe(t.split('{}')[1])) for t in templates]
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)
        self._cache: OrderedDict[str, List[int]] = OrderedDict()
        self.cache_size = int(cache_size)

    # ------------------------------------------------------------------ tokenisation
    @property
    def text_encoder(self) -> nn.Module:
        return self._text_encoder

    def _bpe(self, text: str) -> List[int]:
        return list(self._text_encoder.tokenizer.encode(text)) if text.strip() else []

    def noun_bpe(self, noun: str) -> List[int]:
        """Cached BPE ids of ``noun`` (no SOT/EOT)."""
        ids = self._cache.get(noun)
        if ids is None:
            ids = self._bpe(noun)
            self._cache[noun] = ids
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(noun)
        return ids

    def _rows(self, pieces: List[List[int]]) -> torch.Tensor:
        """``[SOT] + piece + [EOT]`` rows, truncated to the context length (EOT kept), zero padded: ``N×L`` int64."""
        out = torch.zeros(len(pieces), self.context_length, dtype=torch.long)
        for i, p in enumerate(pieces):
            row = [self.sot] + p[:self.context_length - 2] + [self.eot]
            out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        return out

    def prompt_ids(self, nouns: Sequence[str]) -> torch.Tensor:
        """Ids ``N×L`` of the prompts, with SOT placeholders at the M context positions (replaced by ``ctx``)."""
        return self._rows([[self.sot] * self.n_ctx + self.noun_bpe(n)[:self.max_noun_tokens] for n in nouns])

    def target_ids(self, nouns: Sequence[str], template_index: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Ids ``N×L`` of the hand-crafted target sentences T(N_j)."""
        if template_index is None:
            template_index = self.sample_templates(len(nouns))
        pieces = []
        for n, t in zip(nouns, template_index.tolist()):
            if _piecewise_exact(n):
                pre, suf = self._template_parts[t]
                pieces.append(pre + self.noun_bpe(n) + suf)
            else:  # e.g. "u.s." + "." would merge into one punctuation run: tokenise the sentence itself
                pieces.append(self._bpe(self.templates[t].format(n)))
        return self._rows(pieces)

    def sample_templates(self, n: int) -> torch.Tensor:
        """Template index per noun (CPU, from the module's seeded generator)."""
        if len(self.templates) == 1:
            return torch.zeros(n, dtype=torch.long)
        return torch.randint(len(self.templates), (n, ), generator=self._generator)

    def get_rng_state(self) -> torch.Tensor:
        """State of the template generator (saved in checkpoints by ``ExactResumeHook``)."""
        return self._generator.get_state()

    def set_rng_state(self, state: torch.Tensor) -> None:
        self._generator.set_state(state)

    # ------------------------------------------------------------------ encoding
    def encode_prompt_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """n = normalize(E_t([SOT] + ctx + noun + [EOT])) for prompt ids ``N×L`` → ``N×D``."""
        te = self._text_encoder
        emb = te.embed_tokens(ids)  # N×L×C
        ctx = self.ctx.to(emb.dtype).unsqueeze(0).expand(ids.shape[0], -1, -1)
        emb = torch.cat([emb[:, :1], ctx, emb[:, 1 + self.n_ctx:]], dim=1)
        return F.normalize(te.encode_embeddings(emb, te.eot_index(ids)), dim=-1)

    def forward(self, nouns: Sequence[str]) -> torch.Tensor:
        """Noun embeddings n_j, L2-normalised: ``N×D`` (gradients reach ``ctx`` only)."""
        ids = self.prompt_ids(nouns).to(self.ctx.device, non_blocking=True)
        return self.encode_prompt_ids(ids)

    @torch.no_grad()
    def encode_target_ids(self, ids: torch.Tensor) -> torch.Tensor:
        te = self._text_encoder
        return F.normalize(te.encode(ids), dim=-1)

    @torch.no_grad()
    def knowledge_targets(self, nouns: Sequence[str]) -> torch.Tensor:
        """Knowledge-guided targets n'_j (frozen encoder, no ctx), L2-normalised, no grad: ``N×D``."""
        ids = self.target_ids(nouns).to(self.ctx.device, non_blocking=True)
        return self.encode_target_ids(ids)

    def forward_with_targets(self, nouns: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, n') for one list of nouns with a single host→device copy of the stacked ``2N×L`` ids."""
        ids = torch.cat([self.prompt_ids(nouns), self.target_ids(nouns)]).to(self.ctx.device, non_blocking=True)
        n = len(nouns)
        return self.encode_prompt_ids(ids[:n]), self.encode_target_ids(ids[n:])

    def extra_repr(self) -> str:
        return f'n_ctx={self.n_ctx}, templates={len(self.templates)}, seed={self.seed}'
