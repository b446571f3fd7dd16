"""CoDe segmentor: Eq. 8 loss dict, gradients, padded nouns, ablation switches, inference, a short training run."""
import copy
import time

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_code  # noqa: F401  (registers every module)
from mmseg_code.models.clip import OpenCLIP

TINY = dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16', pretrained=None)
TCL_CODE_LOSS = dict(type='TCLLoss', tcl_img_weight=0.1, tcl_feat_weight=0.1, area_prior=0.25, area_weight=0.5,
                     neg_area_prior=0.0, neg_area_weight=0.05, tv_img_weight=1.0, tv_mask_weight=1.0,
                     normalize_feats=True)


def tiny_cfg(**over):
    cfg = dict(
        type='CoDe',
        clip=TINY,
        decode_head=dict(type='ImageSegmenter', decoder=dict(type='GatedDecoder', n_layers=2, double=False),
                         sim2mask=dict(type='Sim2Mask', init_w=10.0, init_b=-2.5), unfreeze_iter=30000),
        loss_seg=TCL_CODE_LOSS,
        text_encoder=dict(type='KgCoOpTextClassifier',
                          noun_prompt=dict(type='KgCoOpNounPrompt', n_ctx=16, kg_templates='imagenet80', seed=0)),
        text_segmenter=dict(type='TextSegmenter', num_heads=2),
        region_prompt=dict(type='RegionHighlightPrompt', size=(224, 224)),
        vocabulary=['background', 'circle', 'square'],
        test_cfg=dict(mode='whole', pamr=False, kp_weight=0.0))
    cfg.update(over)
    return cfg


def build(**over):
    torch.manual_seed(0)
    return MODELS.build(tiny_cfg(**over))


CAPTIONS = [('a red circle next to a blue square', ['circle', 'square']),
            ('a green triangle on grass', ['triangle', 'grass']),
            ('one yellow star', ['star', '']),
            ('a dog and a cat', ['cat', 'dog'])]


def make_samples(tokenizer_encoder, captions, j=2):
    """Data samples as the data contract: text_ids, noun_valid, noun_token_mask, word_labels (computed here by
    BPE sub-sequence matching, independently of the model)."""
    te = tokenizer_encoder
    out = []
    for cap, nouns in captions:
        nouns = (list(nouns) + [''] * j)[:j]
        ids = te.tokenize([cap])[0]
        toks = ids.tolist()
        labels = torch.full((77, ), -1, dtype=torch.long)
        tmask = torch.zeros(j, 77, dtype=torch.bool)
        for k, n in enumerate(nouns):
            if not n:
                continue
            sub = te.tokenizer.encode(n)
            for s in range(1, 77 - len(sub)):
                if toks[s:s + len(sub)] == sub:
                    labels[s:s + len(sub)] = k + 1
                    tmask[k, s:s + len(sub)] = True
        sample = SegDataSample(metainfo=dict(caption=cap, nouns=nouns))
        sample.text_ids = ids
        sample.noun_valid = torch.tensor([bool(n) for n in nouns])
        sample.noun_token_mask = tmask
        sample.word_labels = labels
        out.append(sample)
    return out


def batch(model, b=4, size=64, seed=0, captions=CAPTIONS, j=2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, size, size, generator=g)
    return x, make_samples(model.clip.text_encoder, captions[:b], j)


EXPECTED_KEYS = {'loss_kg', 'loss_tcl_img', 'loss_tcl_feat', 'loss_area', 'loss_neg_area', 'loss_tv_img',
                 'loss_tv_mask', 'loss_seg_txt', 'loss_hcl', 'seg_img'}


def total(losses):
    return sum(v for k, v in losses.items() if 'loss' in k)


def test_loss_keys_finite_and_weighted():
    model = build()
    model.train()
    x, samples = batch(model)
    losses = model.loss(x, samples)
    assert set(losses) == EXPECTED_KEYS
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    tcl = [k for k in losses if k.startswith('loss_') and k not in ('loss_kg', 'loss_seg_txt', 'loss_hcl')]
    torch.testing.assert_close(losses['seg_img'], sum(losses[k] for k in tcl).detach())
    # λ's multiply their terms: doubling λ_hcl / λ_kg doubles the values (deterministic parts, eval-mode masks)
    model.eval()
    model.text_encoder.noun_prompt._generator.manual_seed(0)
    base = model.loss(x, samples)
    model.loss_weights.update(hcl=1.0, kg=16.0)
    model.text_encoder.noun_prompt._generator.manual_seed(0)
    dbl = model.loss(x, samples)
    assert dbl['loss_hcl'].item() == pytest.approx(2 * base['loss_hcl'].item(), rel=1e-5)
    assert dbl['loss_kg'].item() == pytest.approx(2 * base['loss_kg'].item(), rel=1e-5)
    with pytest.raises(ValueError, match="Unknown key .* in CoDe loss_weights"):
        build(loss_weights=dict(hlc=0.1))


def _grad_owners(model):
    names = set()
    for n, p in model.named_parameters():
        if p.grad is not None and p.grad.abs().sum() > 0:
            names.add(n)
    return names


def test_gradients_reach_exactly_the_intended_parameters():
    model = build()
    model.train()
    x, samples = batch(model)
    total(model.loss(x, samples)).backward()
    got = _grad_owners(model)
    trainable_prefixes = ('text_encoder.noun_prompt.ctx', 'text_segmenter.', 'decode_head.decoder.',
                          'decode_head.image_proj.', 'decode_head.sim2mask.', 'region_prompt.prompt',
                          'word_prompt.prompt', 'hcl_loss.logit_scale', 'loss_seg.infonce_img.logit_scale',
                          'loss_seg.infonce_feat.logit_scale')
    for prefix in trainable_prefixes:
        assert any(n.startswith(prefix) for n in got), prefix
    assert all(n.startswith(trainable_prefixes) for n in got), sorted(got)
    assert {'text_segmenter.logit_scale', 'text_segmenter.logit_bias', 'decode_head.sim2mask.w',
            'decode_head.sim2mask.b'} <= got
    # frozen CLIP: no gradient at all; the copied block: zero until the unfreeze iteration
    assert all(p.grad is None for p in model.clip.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.decode_head.block.parameters())


def _count(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad) if module is not None else 0


def part_counts(model):
    seg = model.decode_head
    return dict(decoder=_count(seg.decoder), image_proj=_count(seg.image_proj), sim2mask=_count(seg.sim2mask),
                block=_count(seg.block), text_decoder=_count(model.text_segmenter.blocks),
                text_wb=2, p_v=_count(model.region_prompt), p_t=_count(model.word_prompt),
                ctx=_count(model.text_encoder.noun_prompt), scales=_count(model.loss_seg) + _count(model.hcl_loss),
                clip=_count(model.clip))


def test_trainable_parameter_counts_tiny():
    model = build()
    c = part_counts(model)
    w, d, ct, L = 128, 64, 64, 77  # tiny CLIP: vision width, embed, text width, context
    assert c['clip'] == 0
    assert c['ctx'] == 16 * ct
    assert c['p_v'] == 3 * 224 * 224
    assert c['p_t'] == L * ct
    assert c['text_decoder'] == 2 * (12 * ct * ct + 13 * ct)
    assert c['image_proj'] == 2 * w + w * d
    assert c['decoder'] == 2 * (2 * w + w * w * 9 + w + 1)  # per stage: LN, conv 3×3 + bias, gate
    assert c['sim2mask'] == 2 and c['scales'] == 3


def test_trainable_parameter_counts_vitb16():
    """ref-code-impl §2.1: GDecoder 10,621,442, image_proj 394,752, text decoder 6,304,768, P_v 150,528,
    P_t 39,424, ctx 8,192; 17,519,113 trainable before the unfreeze, 24,606,985 after (block 7,087,872)."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(clip=dict(type='OpenCLIP', model_name='ViT-B-16', pretrained=None),
                                  text_segmenter=dict(type='TextSegmenter', num_heads=8)))
    c = part_counts(model)
    assert (c['decoder'], c['image_proj'], c['text_decoder'], c['p_v'], c['p_t'], c['ctx']) == \
        (10_621_442, 394_752, 6_304_768, 150_528, 39_424, 8_192)
    assert c['block'] == 7_087_872 and c['clip'] == 0
    before = sum(v for k, v in c.items() if k != 'block')
    assert before == 17_519_113
    assert before + c['block'] == 24_606_985
    assert _count(model) == 24_606_985  # the block requires grad throughout (zero-gated until 30k, DDP-safe)


def test_padded_nouns_change_no_loss():
    """J=2 with every second slot invalid == J=1; and an invalid slot's content has no effect.

    (The fixed paper template keeps the random template draws, which depend on the number of slots, out of it.)"""
    model = build(text_encoder=dict(type='KgCoOpTextClassifier',
                                    noun_prompt=dict(type='KgCoOpNounPrompt', kg_templates='photo')))
    model.eval()  # deterministic hard masks (no Gumbel noise), so both runs see the same masks
    caps1 = [(c, n[:1]) for c, n in CAPTIONS]
    x, s1 = batch(model, captions=caps1, j=1)
    _, s2 = batch(model, captions=[(c, n + ['']) for c, n in caps1], j=2)
    l1, l2 = model.loss(x, s1), model.loss(x, s2)
    assert set(l1) == set(l2)
    for k in l1:
        assert torch.isfinite(l2[k]), k
        assert l2[k].item() == pytest.approx(l1[k].item(), rel=1e-5, abs=1e-6), k
    # mixed validity: change the string of the invalid slot of sample 2 (and its template draw) → same losses
    x, a = batch(model)
    _, b = batch(model)
    b[2].set_metainfo(dict(nouns=['star', 'zebra']))
    model.text_encoder.noun_prompt._generator.manual_seed(0)
    la = model.loss(x, a)
    model.text_encoder.noun_prompt._generator.manual_seed(0)
    lb = model.loss(x, b)
    for k in la:
        assert torch.isfinite(la[k]), k
        assert lb[k].item() == pytest.approx(la[k].item(), rel=1e-5, abs=1e-6), k


@pytest.mark.parametrize('row', ['baseline', 'c', 'cw', 'cwr'])
def test_table2_ablation_switches(row):
    over = dict(baseline=dict(co_decomposition=False,
                              region_prompt=dict(type='RegionHighlightPrompt', learnable=False)),
                c=dict(region_prompt=dict(type='RegionHighlightPrompt', learnable=False),
                       word_prompt=dict(type='WordHighlightPrompt', learnable=False)),
                cw=dict(region_prompt=dict(type='RegionHighlightPrompt', learnable=False)),
                cwr=dict())[row]
    model = build(**over)
    model.train()
    x, samples = batch(model, b=2)
    losses = model.loss(x, samples)
    has_text = row != 'baseline'
    assert ('loss_seg_txt' in losses) == has_text and ('loss_hcl' in losses) == has_text
    assert (model.text_segmenter is not None) == has_text
    total(losses).backward()
    assert model.region_prompt.prompt.requires_grad == (row == 'cwr')
    assert (model.region_prompt.prompt.grad is not None) == (row == 'cwr')
    if has_text:
        assert model.word_prompt.prompt.requires_grad == (row in ('cw', 'cwr'))
        assert (model.word_prompt.prompt.grad is not None) == (row in ('cw', 'cwr'))
    if row == 'baseline':
        # region prompt off = TCL's fill X·M
        m = (torch.rand(2, 1, 4, 4) > 0.5).float()
        torch.testing.assert_close(model.fill_background(x, F.interpolate(m, size=x.shape[-2:])),
                                   x * F.interpolate(m, size=x.shape[-2:]))


def test_paper_options_run():
    model = build(text_encoder=dict(type='KgCoOpTextClassifier',
                                    noun_prompt=dict(type='KgCoOpNounPrompt', kg_templates='photo')),
                  kg_loss=dict(type='KgLoss', form='sq'),
                  text_seg_loss=dict(type='TextSegLoss', label_source='argmax', bg_weight=1.0),
                  word_prompt=dict(type='WordHighlightPrompt', mode='single'))
    model.train()
    x, samples = batch(model, b=2)
    for s in samples:
        del s.word_labels  # the paper's self-labels need no data-side labels
    losses = model.loss(x, samples)
    assert all(torch.isfinite(v) for v in losses.values())
    total(losses).backward()
    assert model.word_prompt.prompt.shape == (1, 64) and model.word_prompt.prompt.grad is not None


def test_predict_uses_kgcoop_class_embeddings():
    model = build()
    model.eval()
    emb = model.text_encoder.encode_names(['circle', 'square'])
    ref = F.normalize(model.clip.text_encoder.encode(model.clip.text_encoder.tokenize(
        ['a photo of' + ' x' * 13 + ' circle', 'a photo of' + ' x' * 13 + ' square'])), dim=-1)
    torch.testing.assert_close(emb, ref, atol=1e-5, rtol=1e-5)  # ctx at init = "a photo of x…x"
    x = torch.randn(2, 3, 64, 80)
    out = model.predict(x)
    assert out[0].pred_sem_seg.data.shape == (1, 64, 80)
    assert out[0].seg_logits.data.shape[0] == 3  # background + 2 classes
    # the training step invalidates the cached class embeddings (ctx changes)
    model.text_encoder()
    assert model.text_encoder._cache is not None
    model.train()
    xb, samples = batch(model, b=2)
    model.loss(xb, samples)
    assert model.text_encoder._cache is None


def test_tiny_training_loop_decreases():
    model = build()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05, eps=1e-6)
    batches = [batch(model, b=4, size=32, seed=s) for s in range(2)]
    history = []
    t0 = time.time()
    for it in range(50):
        x, samples = batches[it % 2]
        losses = model.loss(x, samples)
        assert all(torch.isfinite(v) for v in losses.values()), (it, losses)
        loss = total(losses)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        history.append({k: v.item() for k, v in losses.items()})
    first = sum(sum(v for k, v in h.items() if 'loss' in k) for h in history[:5]) / 5
    last = sum(sum(v for k, v in h.items() if 'loss' in k) for h in history[-5:]) / 5
    assert last < first, (first, last)
    for key in ('loss_kg', 'loss_seg_txt', 'loss_hcl'):
        assert sum(h[key] for h in history[-5:]) < sum(h[key] for h in history[:5]), key
    assert time.time() - t0 < 120


def test_autocast_smoke():
    """AMP-safety smoke test on CPU (bfloat16 autocast): every term finite, fp32 losses, gradients flow."""
    model = build()
    model.train()
    x, samples = batch(model, b=2, size=32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(x, samples)
    assert all(torch.isfinite(v) and v.dtype == torch.float32 for k, v in losses.items() if k != 'seg_img')
    total(losses).backward()
    assert model.word_prompt.prompt.grad is not None and torch.isfinite(model.text_encoder.noun_prompt.ctx.grad).all()


def test_nouns_instead_of_word_segments_reaches_the_loss(monkeypatch):
    """Sec. 4.4 ablation (issue 17 item 5): with hcl_text='nouns', L_hcl's text side is the noun embeddings n_j."""
    from mmengine.config import Config
    for path in ('configs/code/code_vitb16_cc_nouns.py', 'configs/code/code_tiny_nouns.py'):
        assert Config.fromfile(path).model.hcl_text == 'nouns'
    seen = {}
    for mode in ('word_segments', 'nouns'):
        model = build(hcl_text=mode)
        model.train()
        assert (model.word_prompt is None) == (mode == 'nouns')
        calls = []
        inner = model.hcl_loss.forward
        monkeypatch.setattr(model.hcl_loss, 'forward', lambda v, t, **kw: calls.append(t) or inner(v, t, **kw))
        x, samples = batch(model, b=2)
        torch.manual_seed(1)
        losses = model.loss(x, samples)
        assert len(calls) == 1 and torch.isfinite(losses['loss_hcl'])
        flat = [s.nouns[j] for j in range(2) for s in samples]  # noun-major, as encode_train_texts
        n_j = model.text_encoder.noun_prompt(flat)
        assert torch.allclose(calls[0], n_j, atol=1e-6) == (mode == 'nouns')
        total(losses).backward()
        if mode == 'nouns':  # L_hcl now trains the KgCoOp context through n_j; no word prompt exists
            assert model.text_encoder.noun_prompt.ctx.grad is not None
            assert not any('word_prompt' in k for k in model.state_dict())
        seen[mode] = losses['loss_hcl'].item()
    assert seen['nouns'] != pytest.approx(seen['word_segments'])
    with pytest.raises(ValueError, match='hcl_text'):
        build(hcl_text='words')
