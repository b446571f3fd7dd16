"""TSEG's parameter count: the config's ViT-S/16 + BERT-Small + projections give 51,232,129 parameters, against
the paper's "total number of 42M parameters" (Sec. 4.2); no ViT-S/16 + released BERT (Turc et al.'s 24 sizes) gives
42M. Counts from the architectures (random init, no download); BERT by its closed form (and by transformers when
installed, from an explicit config)."""
import pathlib

import pytest
from mmengine.config import Config
from mmseg.registry import MODELS

ROOT = pathlib.Path(__file__).parents[3]
CONFIG = ROOT / 'projects/tseg/configs/tseg_vits16-bert-small_4xb8-120k_phrasecut-384x384.py'


def vit_count(d, depth, tokens, patch=16):
    """timm ViT without head: patch embedding, cls + position tokens, blocks (LN, qkv, proj, LN, MLP 4d), final LN."""
    block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d)
    return 3 * patch * patch * d + d + d + tokens * d + depth * block + 2 * d


def bert_count(h, layers, vocab=30522, positions=512):
    """BertModel without pooler (TSEG reads [CLS] of the last layer): embeddings + layers (intermediate 4h)."""
    i = 4 * h
    emb = vocab * h + positions * h + 2 * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
    return emb + layers * layer


def projection_count(di, dt, e=1024):
    return (di * e + e) + (dt * e + e) + 1            # W_I, W_T (with bias) and the learnable temperature


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_config_count_is_51_2M():
    cfg = Config.fromfile(str(CONFIG)).model
    assert cfg.image_encoder.model_name == 'vit_small_patch16_384.augreg_in21k_ft_in1k'
    assert cfg.text_encoder.model_name == 'google/bert_uncased_L-4_H-512_A-8' and cfg.similarity.embed_dim == 1024
    vit = MODELS.build(dict(cfg.image_encoder, pretrained=False, drop_path_rate=0.0))
    assert count(vit) == vit_count(384, 12, 1 + 24 * 24) == 21_811_584
    sim = MODELS.build(dict(type='PatchTextSimilarity', image_dim=384, text_dim=512, embed_dim=1024))
    assert count(sim) == projection_count(384, 512) == 919_553
    assert bert_count(512, 4) == 28_500_992
    assert count(vit) + bert_count(512, 4) + count(sim) == 51_232_129


def test_bert_small_closed_form_matches_transformers():
    tf = pytest.importorskip('transformers')
    bert = tf.BertModel(tf.BertConfig(vocab_size=30522, hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                                      intermediate_size=2048), add_pooling_layer=False)
    assert count(bert) == bert_count(512, 4)


def test_no_vit_s_bert_combination_gives_42M():
    """ViT-S/16 (224 or 384 position grid) + any of Turc et al.'s BERTs (L 2-12, H 128-768): none within 2M of 42M;
    the closest are L-12/H-256 (39.9M) and L-2/H-512 (44.9M)."""
    totals = {(tok, l, h): vit_count(384, 12, tok) + bert_count(h, l) + projection_count(384, h)
              for tok in (197, 577) for l in (2, 4, 6, 8, 10, 12) for h in (128, 256, 512, 768)}
    assert min(abs(t - 42e6) for t in totals.values()) > 2e6
    assert totals[(577, 12, 256)] == 39_891_841 and totals[(577, 2, 512)] == 44_927_361
