"""CLIP text encoder E_t with the entry points CoDe needs.

A frozen open_clip text tower (causal transformer, EOT pooling; or SigLIP's, see below) split into steps, so callers can
change what goes in (CoDe Eq. 5 highlights *token embeddings*; KgCoOp inserts learnable context
vectors) and what comes out (the text segmenter reads per-token features of the last block):

* :meth:`CLIPTextEncoder.tokenize` — strings → ids ``N×L`` (open_clip BPE, SOT/EOT, zero padding).
* :meth:`CLIPTextEncoder.embed_tokens` — ids ``N×L`` → token embeddings ``N×L×C``.
* :meth:`CLIPTextEncoder.encode_embeddings` — token embeddings ``N×L×C`` + EOT index ``N`` → ``N×D``.
* :meth:`CLIPTextEncoder.encode` — ids ``N×L`` → ``N×D`` (standard ``encode_text``, unnormalised).
* :meth:`CLIPTextEncoder.encode_dense` — ids ``N×L`` → last-block token features ``N×L×C`` (before
  ``ln_final``), the input of CoDe's text segmenter.

SigLIP-style towers (``pool_type='last'``, no causal mask: every token attends to the whole padded sequence, the
embedding is the last position's, ``x[:, L-1]``, after ``ln_final`` and the projection) encode class names the same
way (``causal=False``; :meth:`eot_index` is then ``L-1`` for every row), which is all the training-free methods and
the text classifiers need. TCL and CoDe train on caption token positions (SOT, words, EOT) of a causal tower and stop
with one line on such a tower (:func:`require_causal_text`).
"""
from __future__ import annotations

from typing import Sequence

import open_clip
import torch
import torch.nn as nn


class CLIPTextEncoder(nn.Module):
    """Frozen CLIP text tower taken from an open_clip ``CLIP`` model.

    Args:
        clip_model: an open_clip ``CLIP`` (text tower attributes at the top level) or ``CustomTextCLIP`` (a causal
            ``TextTransformer`` under ``text``, as EVA02's).
        tokenizer: an open_clip tokenizer with the model's context length.
    """

    def __init__(self, clip_model: nn.Module, tokenizer) -> None:
        super().__init__()
        from ...utils.tool import UserError
        tower = getattr(clip_model, 'text', clip_model)
        pool = getattr(tower, 'pool_type', getattr(clip_model, 'text_pool_type', 'argmax'))
        attn_mask = getattr(tower, 'attn_mask', None)
        causal = pool == 'argmax' and attn_mask is not None
        last = pool == 'last' and attn_mask is None
        if not (causal or last) or getattr(tower, 'cls_emb', None) is not None or \
                getattr(tower, 'text_projection', None) is None:
            raise UserError(f'CLIPTextEncoder supports causal CLIP text towers pooled at the EOT token and '
                            f'SigLIP-style towers pooled at the last token without a causal mask, got '
                            f'pool_type={pool!r} '
                            f'({"with" if attn_mask is not None else "without"} a causal mask'
                            f'{", a class token" if getattr(tower, "cls_emb", None) is not None else ""}).')
        self.causal = causal
        self.token_embedding = tower.token_embedding
        self.positional_embedding = tower.positional_embedding
        self.transformer = tower.transformer
        self.ln_final = tower.ln_final
        self.text_projection = tower.text_projection
        self.register_buffer('attn_mask', attn_mask, persistent=False)      # None: bidirectional (SigLIP)
        self.tokenizer = tokenizer
        self.context_length = int(getattr(tower, 'context_length', getattr(clip_model, 'context_length', 0)))
        self.width = self.token_embedding.embedding_dim
        self.embed_dim = (self.text_projection.out_features if isinstance(self.text_projection, nn.Linear)
                          else self.text_projection.shape[1])
        self.sot_token_id = getattr(tokenizer, 'sot_token_id', None)     # Hugging Face tokenizers (SigLIP) have none
        self.eot_token_id = getattr(tokenizer, 'eot_token_id', None)

    def tokenize(self, texts: Sequence[str] | str) -> torch.Tensor:
        """Tokenise with the model's BPE and context length (truncating, EOT kept): ``N×L`` int64."""
        if isinstance(texts, str):
            texts = [texts]
        return self.tokenizer(list(texts)).to(self.token_embedding.weight.device)

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings ``N×L×C`` (before position embeddings) of ids ``N×L``."""
        return self.token_embedding(ids)

    def _transformer(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        x = x + self.positional_embedding[:length].to(x.dtype)
        mask = None if self.attn_mask is None else self.attn_mask[:length, :length]
        return self.transformer(x, attn_mask=mask)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x @ self.text_projection

    def encode_embeddings(self, token_embeds: torch.Tensor, eot_index: torch.Tensor) -> torch.Tensor:
        """CLIP text embedding (unnormalised) from token embeddings.

        Args:
            token_embeds: ``N×L×C`` token embeddings (e.g. highlighted H_t, or KgCoOp prompts).
            eot_index: ``N`` int64 position of each sequence's EOT token.
        Returns:
            ``N×D`` embeddings taken at ``eot_index`` after ``ln_final``, projected.
        """
        x = self.ln_final(self._transformer(token_embeds))
        x = x[torch.arange(x.shape[0], device=x.device), eot_index]
        return self._project(x)

    def eot_index(self, ids: torch.Tensor) -> torch.Tensor:
        """Position of the EOT token in each row of ``N×L`` ids (the pooled position: ``L-1`` for a last-token
        tower)."""
        if not self.causal:
            return torch.full((ids.shape[0], ), ids.shape[1] - 1, dtype=torch.long, device=ids.device)
        return (ids == self.eot_token_id).int().argmax(dim=-1)

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """Standard CLIP text embedding (unnormalised) ``N×D`` of ids ``N×L``."""
        return self.encode_embeddings(self.embed_tokens(ids), self.eot_index(ids))

    def encode_dense(self, ids: torch.Tensor) -> torch.Tensor:
        """Last-block per-token features ``N×L×C`` (causal, before ``ln_final``) of ids ``N×L``."""
        return self._transformer(self.embed_tokens(ids))


def require_causal_text(text_encoder: CLIPTextEncoder, method: str) -> None:
    """One line (:class:`~mmseg_code.utils.tool.UserError`) when ``method`` (TCL, CoDe) is built on a text tower
    without causal EOT pooling: its captions' token positions (SOT, words, EOT) mean nothing there."""
    if not getattr(text_encoder, 'causal', True):
        from ...utils.tool import UserError
        raise UserError(f'{method} trains on caption tokens of a causal CLIP text tower pooled at the EOT token; this '
                        f'CLIP\'s text tower pools the last token without a causal mask (SigLIP): use the '
                        f'training-free methods with it, or a CLIP with a causal text tower.')


def build_tokenizer(model_name: str, context_length: int | None = None):
    """The open_clip tokenizer of ``model_name`` (the real CLIP BPE for OpenAI-style models).

    Families with a Hugging Face tokenizer (SigLIP, SigLIP2, …) need the optional dependency ``transformers``; without
    it the error is one line naming the extra to install."""
    from ...utils.tool import UserError
    from .factory import register_tiny_configs
    register_tiny_configs()
    try:
        return open_clip.get_tokenizer(model_name, context_length=context_length)
    except ImportError as e:
        missing = getattr(e, 'name', None) or str(e)
        raise UserError(f"{model_name}'s tokenizer needs the optional dependency {missing!r}: "
                        f"pip install 'mmseg-code[optional]' (or pip install transformers).") from e
