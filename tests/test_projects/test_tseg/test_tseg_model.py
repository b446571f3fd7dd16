"""TSEG model: Eq. 1 similarity, the training step over the batch's expressions, inference masks and outputs."""
import copy
import math

import numpy as np
import pytest
import torch
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from projects.tseg.tseg.models import PatchTextSimilarity


def test_similarity_eq1_numpy():
    torch.manual_seed(0)
    sim = PatchTextSimilarity(image_dim=4, text_dim=3, embed_dim=5, init_scale=10.0)
    x, y = torch.randn(2, 6, 4), torch.randn(3, 3)
    got = sim(x, y).detach().numpy()
    wi, bi = sim.image_proj.weight.detach().numpy(), sim.image_proj.bias.detach().numpy()
    wt, bt = sim.text_proj.weight.detach().numpy(), sim.text_proj.bias.detach().numpy()
    px = x.numpy() @ wi.T + bi
    py = y.numpy() @ wt.T + bt
    px /= np.linalg.norm(px, axis=-1, keepdims=True)
    py /= np.linalg.norm(py, axis=-1, keepdims=True)
    assert got.shape == (2, 6, 3)
    assert got == pytest.approx(10.0 * px @ py.T, abs=1e-5)
    assert np.abs(got).max() <= 10.0 + 1e-5
    assert sim.logit_scale.requires_grad and sim.scale.item() == pytest.approx(10.0)


def _samples(shapes):
    return [SegDataSample(metainfo=dict(expressions=e, img_shape=v, ori_shape=o)) for e, v, o in shapes]


def test_loss_is_soft_margin_over_unique_batch_expressions(tiny_model_cfg):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg)
    x = torch.randn(2, 3, 64, 64)
    samples = _samples([(['the red circle', 'the square'], (64, 64), (64, 64)),
                        (['the red circle', 'a star'], (64, 64), (64, 64))])
    losses = model.loss(x, samples)
    assert losses['num_expr'].item() == 3           # 'the red circle' shared → one column, positive for both images
    # recompute with the public pieces: S → (z, M) → per-image mean soft margin
    with torch.no_grad():
        s, _ = model.patch_text_scores(x, ['the red circle', 'the square', 'a star'])
        z, _ = model.pooling(s)
    y = np.array([[1, 1, 0], [1, 0, 1]], dtype=np.float64)
    zn = z.numpy().astype(np.float64)
    want = np.mean(np.mean(y * np.log1p(np.exp(-zn)) + (1 - y) * np.log1p(np.exp(zn)), axis=1))
    assert losses['loss_cls'].item() == pytest.approx(want, rel=1e-5)
    losses['loss_cls'].backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing                     # end to end: both encoders, projections and τ get gradients


def test_predict_masks_thresholded_at_background_and_resized(tiny_model_cfg):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg).eval()
    x = torch.randn(1, 3, 60, 52)                   # not a patch multiple: padded inside, cropped back
    samples = _samples([(['the red circle', 'the square'], (60, 52), (120, 104))])
    out = model.predict(x, samples)[0]
    masks = out.seg_logits.data
    assert masks.shape == (2, 120, 104)
    assert torch.equal(out.pred_masks.data, masks > 0.5)          # MPA: m > σ(s_bg) ⇔ s > s_bg
    assert out.pred_scores.shape == (2, ) and ((out.pred_scores > 0) & (out.pred_scores < 1)).all()
    label = out.pred_sem_seg.data[0]
    assert set(label.unique().tolist()) <= {0, 1, 2}
    assert torch.equal(label == 0, ~out.pred_masks.data.any(0))
    # masks are σ(S) on the patch grid, bilinearly upsampled: recompute on the padded 64×56 input
    with torch.no_grad():
        s, (h, w) = model.patch_text_scores(torch.nn.functional.pad(x, (0, 4, 0, 4)), ['the red circle', 'the square'])
        m = torch.sigmoid(s)[0].T.reshape(1, 2, h, w)
        m = torch.nn.functional.interpolate(m, size=(64, 56), mode='bilinear')[..., :60, :52]
        m = torch.nn.functional.interpolate(m, size=(120, 104), mode='bilinear')[0]
    assert torch.allclose(m, masks, atol=1e-6)


def test_full_supervision_dice(tiny_model_cfg):
    cfg = dict(tiny_model_cfg, supervision='full')
    model = MODELS.build(cfg)
    from mmengine.structures import PixelData
    samples = _samples([(['a', 'b'], (64, 64), (64, 64))])
    samples[0].gt_masks = PixelData(data=torch.zeros(2, 60, 64, dtype=torch.bool))
    losses = model.loss(torch.randn(1, 3, 64, 64), samples)
    assert set(losses) == {'loss_dice'} and 0 < losses['loss_dice'].item() <= 1


def test_vit_encoder_bilinear_pos_embed_any_grid(tiny_model_cfg):
    enc = MODELS.build(tiny_model_cfg['image_encoder'])
    tokens, grid = enc(torch.randn(1, 3, 48, 80))
    assert grid == (6, 10) and tokens.shape == (1, 60, 32)


def test_clip_image_encoder_swap(tiny_model_cfg):
    cfg = dict(tiny_model_cfg, image_encoder=dict(type='TSEGCLIPImageEncoder', model_name='mmcode-tiny-vit-p16'))
    model = MODELS.build(cfg)
    s, grid = model.patch_text_scores(torch.randn(1, 3, 64, 64), ['x'])
    assert grid == (4, 4) and s.shape == (1, 16, 1)


def test_bert_text_encoder_optional(tmp_path):
    tf = pytest.importorskip('transformers')
    # tiny random BERT with a hand-made WordPiece vocabulary (no download)
    vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'red', 'circle', 'square']
    (tmp_path / 'vocab.txt').write_text('\n'.join(vocab) + '\n')
    tf.BertTokenizerFast(vocab_file=str(tmp_path / 'vocab.txt')).save_pretrained(str(tmp_path))
    enc = MODELS.build(dict(type='TSEGBertTextEncoder', model_name=None, pretrained=False,
                            tokenizer_name=str(tmp_path),
                            config_kwargs=dict(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                                               num_attention_heads=2, intermediate_size=64)))
    enc.eval()                                               # no dropout
    out = enc(['the red circle', 'the square'])
    assert out.shape == (2, 32)
    with torch.no_grad():
        ids = enc.tokenizer(['the red circle'], return_tensors='pt')
        assert ids['input_ids'][0, 0].item() == 2          # [CLS] first: the global token
        assert torch.allclose(enc.bert(**ids).last_hidden_state[0, 0], enc(['the red circle'])[0], atol=1e-5)


def test_misspelt_test_cfg_key_is_an_error(tiny_model_cfg):
    import pytest
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg['test_cfg'] = dict(threshhold=0.3)
    with pytest.raises(ValueError, match=r"Unknown key 'threshhold' in TSEG test_cfg \(did you mean 'threshold'\?\); "
                                         r"known keys: crf, expressions_key, threshold\."):
        MODELS.build(cfg)
