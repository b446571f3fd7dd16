"""CoDe's losses stay finite (values and gradients) under CPU autocast on adversarial batches.

Cases: all-zero masks, all-one masks (Sim2Mask bias at ∓50 saturates σ), a batch whose captions have no noun at all,
a batch of 4 identical captions, a batch of 1 — in fp32, bf16 and fp16 autocast (CPU; GPU autocast not run here).
Where the value of a term follows by hand from the saturated masks it is checked too: with all-zero masks the area
loss is λ_area·|0 − 0.25| = 0.5·0.25, with all-one masks 0.5·|1 − 0.25|, and constant masks have zero TV.
"""
import pytest
import torch
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_code  # noqa: F401

CAPTIONS = [('a red circle next to a blue square', ['circle', 'square']),
            ('a green triangle on grass', ['triangle', 'grass']),
            ('one yellow star', ['star', '']),
            ('a dog and a cat', ['cat', 'dog'])]
NO_NOUNS = [('over there', ['', '']), ('very nice', ['', '']), ('so it goes', ['', '']), ('yes', ['', ''])]
DUPLICATES = [CAPTIONS[0]] * 4


def _cfg():
    return dict(
        type='CoDe', clip=dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16', pretrained=None),
        decode_head=dict(type='ImageSegmenter', decoder=dict(type='GatedDecoder', n_layers=2, double=False),
                         sim2mask=dict(type='Sim2Mask', init_w=10.0, init_b=-2.5), unfreeze_iter=0),
        loss_seg=dict(type='TCLLoss', tcl_img_weight=0.1, tcl_feat_weight=0.1, area_prior=0.25, area_weight=0.5,
                      neg_area_prior=0.0, neg_area_weight=0.05, tv_img_weight=1.0, tv_mask_weight=1.0,
                      normalize_feats=True),
        text_encoder=dict(type='KgCoOpTextClassifier',
                          noun_prompt=dict(type='KgCoOpNounPrompt', n_ctx=16, kg_templates='imagenet80', seed=0)),
        text_segmenter=dict(type='TextSegmenter', num_heads=2),
        text_seg_loss=dict(type='TextSegLoss', label_source='word_labels'),
        region_prompt=dict(type='RegionHighlightPrompt', size=(224, 224)),
        vocabulary=['background', 'circle'], test_cfg=dict(mode='whole', pamr=False, kp_weight=0.0))


@pytest.fixture(scope='module')
def model():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    m = MODELS.build(_cfg())
    m.train()
    m.decode_head.set_block_trainable(True)
    yield m
    torch.set_num_threads(n)


def _samples(te, captions):
    out = []
    for cap, nouns in captions:
        s = SegDataSample(metainfo=dict(caption=cap, nouns=list(nouns)))
        s.text_ids = te.tokenize([cap])[0]
        s.noun_valid = torch.tensor([bool(n) for n in nouns])
        ids = s.text_ids.tolist()  # word labels: -1, except j+1 on the tokens of selected noun j
        labels = torch.full((len(ids), ), -1, dtype=torch.long)
        for j, noun in enumerate(nouns):
            sub = te.tokenizer.encode(noun) if noun else []
            for i in range(1, len(ids) - len(sub)):
                if sub and ids[i:i + len(sub)] == sub:
                    labels[i:i + len(sub)] = j + 1
        s.word_labels = labels
        out.append(s)
    return out


CASES = {
    'all_zero_masks': dict(bias=-50.0),
    'all_one_masks': dict(bias=50.0),
    'no_nouns': dict(captions=NO_NOUNS),
    'duplicate_captions': dict(captions=DUPLICATES),
    'batch_of_1': dict(b=1),
}


@pytest.mark.parametrize('dtype', [None, torch.bfloat16, torch.float16], ids=['fp32', 'bf16', 'fp16'])
@pytest.mark.parametrize('case', list(CASES))
def test_losses_and_gradients_finite(model, case, dtype):
    spec = CASES[case]
    captions = spec.get('captions', CAPTIONS)[:spec.get('b', 4)]
    with torch.no_grad():
        model.decode_head.sim2mask.b.fill_(spec.get('bias', -2.5))
    model.zero_grad(set_to_none=True)
    x = torch.randn(len(captions), 3, 32, 32, generator=torch.Generator().manual_seed(0))
    samples = _samples(model.clip.text_encoder, captions)
    with torch.autocast('cpu', dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        losses = model.loss(x, samples)
    bad = [k for k, v in losses.items() if not torch.isfinite(v).all()]
    assert not bad, (case, dtype, {k: float(losses[k]) for k in bad})
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    bad_grads = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad_grads, (case, dtype, bad_grads[:5])
    tol = dict(rel=1e-2, abs=1e-3) if dtype is not None else dict(rel=1e-5, abs=1e-6)
    if case == 'all_zero_masks':
        assert float(losses['loss_area']) == pytest.approx(0.5 * 0.25, **tol)
        assert float(losses['loss_neg_area']) == pytest.approx(0.0, **tol)
        assert float(losses['loss_tv_mask']) == pytest.approx(0.0, **tol)
    if case == 'all_one_masks':
        assert float(losses['loss_area']) == pytest.approx(0.5 * 0.75, **tol)
        assert float(losses['loss_neg_area']) == pytest.approx(0.05 * 1.0, **tol)
        assert float(losses['loss_tv_mask']) == pytest.approx(0.0, **tol)
    if case == 'no_nouns':  # nothing valid: every noun-based term is 0, only the area prior remains
        for key in ('loss_kg', 'loss_tcl_img', 'loss_tcl_feat', 'loss_seg_txt', 'loss_hcl'):
            assert float(losses[key]) == pytest.approx(0.0, abs=1e-6), key


@pytest.fixture(scope='module')
def tcl_model():
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    torch.manual_seed(0)
    cfg = Config.fromfile('configs/tcl/tcl_tiny.py').model
    m = MODELS.build(cfg)
    m.train()
    return m


@pytest.mark.parametrize('dtype', [None, torch.bfloat16, torch.float16], ids=['fp32', 'bf16', 'fp16'])
@pytest.mark.parametrize('case', ['all_zero_masks', 'all_one_masks', 'duplicate_captions', 'batch_of_1'])
def test_tcl_losses_and_gradients_finite(tcl_model, case, dtype):
    spec = CASES[case]
    captions = spec.get('captions', CAPTIONS)[:spec.get('b', 4)]
    with torch.no_grad():
        tcl_model.decode_head.sim2mask.b.fill_(spec.get('bias', -2.5))
    tcl_model.zero_grad(set_to_none=True)
    x = torch.randn(len(captions), 3, 32, 32, generator=torch.Generator().manual_seed(0))
    samples = _samples(tcl_model.clip.text_encoder, captions)
    with torch.autocast('cpu', dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        losses = tcl_model.loss(x, samples)
    assert all(torch.isfinite(v).all() for v in losses.values()), {k: float(v) for k, v in losses.items()}
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(torch.isfinite(p.grad).all() for p in tcl_model.parameters() if p.grad is not None)
