"""Text encoders of TSEG: L expressions (strings) → one global token each, ``L×D_T`` (Sec. 3.1).

* :class:`TSEGBertTextEncoder` — BERT (the paper's BERT-Small) from Hugging Face ``transformers`` (optional
  dependency, imported lazily); the global token is the first one ([CLS], the paper's "[BOS]").
* :class:`TSEGCLIPTextEncoder` — the plugin's open_clip text tower; CLIP's causal transformer pools at the EOT token
  (the first token sees nothing else), so the global token is CLIP's pooled EOT feature after ``ln_final``
  (before ``text_projection``; TSEG's own projection follows).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS

INSTALL_HINT = ("TSEG's BERT text encoder needs Hugging Face transformers, an optional dependency: "
                "pip install -e .[optional]   (or: pip install 'transformers>=4.40'). "
                "Or use the open_clip text encoder: text_encoder=dict(type='TSEGCLIPTextEncoder', ...).")


def import_transformers():
    """``transformers`` or an ImportError that says how to install it."""
    try:
        import transformers
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(INSTALL_HINT) from e
    return transformers


@MODELS.register_module()
class TSEGBertTextEncoder(BaseModule):
    """BERT text encoder (lower-cased WordPiece, [CLS] … [SEP]), [CLS] output as the expression token.

    Args:
        model_name: Hugging Face id or local directory. BERT-Small [54] = Turc et al.'s
            ``'google/bert_uncased_L-4_H-512_A-8'`` (4 layers, width 512).
        pretrained: load the pre-trained weights (else a random init from the model's config).
        config_kwargs: overrides of the BERT config, e.g. a tiny random BERT for tests
            (``model_name`` None + ``config_kwargs`` + ``tokenizer_name``).
        tokenizer_name: tokenizer id/directory (default: ``model_name``).
        max_length: truncation length in tokens.
    """

    def __init__(self, model_name: Optional[str] = 'google/bert_uncased_L-4_H-512_A-8', pretrained: bool = True,
                 config_kwargs: Optional[dict] = None, tokenizer_name: Optional[str] = None, max_length: int = 40,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        tf = import_transformers()
        if pretrained:
            self.bert = tf.AutoModel.from_pretrained(model_name, add_pooling_layer=False)
        else:
            cfg = tf.BertConfig.from_pretrained(model_name) if model_name else tf.BertConfig()
            for k, v in (config_kwargs or {}).items():
                setattr(cfg, k, v)
            self.bert = tf.BertModel(cfg, add_pooling_layer=False)
        self.tokenizer = tf.AutoTokenizer.from_pretrained(tokenizer_name or model_name)
        self.max_length = int(max_length)
        self.embed_dim = int(self.bert.config.hidden_size)

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        device = next(self.bert.parameters()).device
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors='pt').to(device)
        return self.bert(**batch).last_hidden_state[:, 0]


@MODELS.register_module()
class TSEGCLIPTextEncoder(BaseModule):
    """open_clip text tower (``OpenCLIP``) as TSEG's text encoder: pooled EOT feature, ``L×W``.

    Args:
        model_name, pretrained: see ``OpenCLIP`` (e.g. the tiny ``'mmcode-tiny-vit-p16'``).
        frozen: keep the CLIP weights frozen (default False: TSEG trains end to end).
    """

    def __init__(self, model_name: str = 'ViT-B-16', pretrained: Optional[str] = None, frozen: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        from mmseg_code.models.clip import OpenCLIP
        clip = OpenCLIP(model_name, pretrained=pretrained, frozen=frozen)
        self.encoder = clip.text_encoder
        self.embed_dim = self.encoder.width
        self.frozen = frozen
        proj = self.encoder.text_projection      # unused: TSEG projects with its own W_T (no unused grads in DDP)
        (proj.requires_grad_(False) if isinstance(proj, torch.nn.Module) else proj.requires_grad_(False))

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        enc = self.encoder
        ids = enc.tokenize(list(texts))
        x = enc.ln_final(enc.encode_dense(ids))
        return x[torch.arange(x.shape[0], device=x.device), enc.eot_index(ids)]
