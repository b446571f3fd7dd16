"""CoDe configs: official schedule values, ablation switches, paper options, λ_hcl sweep, optimizer decay rule,
and (slow) one full ViT-B/16 training step on CPU."""
import os
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_code  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CFG = os.path.join(ROOT, 'configs', 'code')


def load(name):
    init_default_scope('mmseg')
    return Config.fromfile(os.path.join(CFG, name))


def test_main_config_matches_official_code():
    cfg = load('code_vitb16_cc.py')
    m = cfg.model
    assert m.type == 'CoDe' and m.clip.model_name == 'ViT-B-16' and m.clip.pretrained == 'openai'
    assert dict(m.loss_weights) == dict(kg=8.0, seg_img=1.0, seg_txt=1.0, hcl=0.5)
    assert m.decode_head.decoder.double is False and m.decode_head.unfreeze_iter == 30000
    ls = m.loss_seg
    assert (ls.tcl_img_weight, ls.tcl_feat_weight, ls.area_prior, ls.area_weight, ls.neg_area_weight,
            ls.tv_img_weight, ls.tv_mask_weight, ls.normalize_feats) == (0.1, 0.1, 0.25, 0.5, 0.05, 1.0, 1.0, True)
    assert m.text_encoder.noun_prompt.kg_templates == 'imagenet80' and m.kg_loss.form == 'cos'
    assert m.text_seg_loss.label_source == 'word_labels' and m.text_seg_loss.bg_weight == 0.5
    assert m.region_prompt.learnable and m.word_prompt.learnable and m.word_prompt.mode == 'per_position'
    assert m.co_decomposition is True
    opt = cfg.optim_wrapper
    assert opt.type == 'OptimWrapper'  # --amp turns it into AmpOptimWrapper
    assert opt.optimizer.lr == pytest.approx(3.2e-4 * 64 / 4096) and opt.optimizer.eps == 1e-6
    assert opt.optimizer.weight_decay == 0.05 and tuple(opt.optimizer.betas) == (0.9, 0.999)
    assert opt.clip_grad.max_norm == 5.0 and opt.paramwise_cfg.flat_decay_mult == 0.0
    warm, cos = cfg.param_scheduler
    assert (warm.type, warm.start_factor, warm.end) == ('LinearLR', 1e-4, 15000)
    assert (cos.type, cos.begin, cos.end, cos.T_max) == ('CosineAnnealingLR', 15000, 50000, 35000)
    assert cos.eta_min == pytest.approx(4e-5 * 64 / 4096)
    assert cfg.train_cfg.max_iters == 50000 and cfg.train_dataloader.batch_size == 16
    ck = cfg.default_hooks.checkpoint
    assert ck.by_epoch is False and ck.max_keep_ckpts == 1 and ck.save_best is None
    assert any(h.type == 'UnfreezeBlockHook' for h in cfg.custom_hooks)
    cfg.merge_from_dict({'model.loss_weights.hcl': 0.25})  # Table 3 sweep via --cfg-options
    assert cfg.model.loss_weights.hcl == 0.25 and cfg.model.loss_weights.kg == 8.0


def test_ablation_and_paper_configs():
    rows = {'code_vitb16_cc_baseline.py': (False, False, True), 'code_vitb16_cc_c.py': (True, False, False),
            'code_vitb16_cc_cw.py': (True, False, True), 'code_vitb16_cc.py': (True, True, True)}
    for name, (co, region, word) in rows.items():
        m = load(name).model
        assert (m.co_decomposition, m.region_prompt.learnable, m.word_prompt.learnable) == (co, region, word), name
        assert load(name).optim_wrapper.optimizer.lr == 5e-6
    p = load('code_vitb16_cc_paper.py').model
    assert p.kg_loss.form == 'sq' and p.text_encoder.noun_prompt.kg_templates == 'photo'
    assert p.text_seg_loss.label_source == 'argmax' and p.word_prompt.mode == 'single'
    assert p.decode_head.decoder.double is True and p.loss_seg.area_prior == 0.4
    assert p.loss_weights.hcl == 0.5


@pytest.mark.parametrize('name', ['code_tiny.py', 'code_tiny_baseline.py', 'code_tiny_c.py', 'code_tiny_cw.py',
                                  'code_tiny_paper.py'])
def test_tiny_configs_build(name):
    cfg = load(name)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.clip.model_name == 'mmcode-tiny-vit-p16'
    assert (model.text_segmenter is None) == name.endswith('baseline.py')


def test_optimizer_decay_rule():
    """No decay on 1-D tensors and biases; 0-d scalars, ctx, P_v and P_t decayed (official)."""
    cfg = load('code_tiny.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ow = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for g in ow.optimizer.param_groups:
        for p in g['params']:
            decay[names[id(p)]] = g['weight_decay']
    assert decay['text_encoder.noun_prompt.ctx'] == 0.05 and decay['region_prompt.prompt'] == 0.05
    assert decay['word_prompt.prompt'] == 0.05
    assert decay['text_segmenter.logit_scale'] == 0.05 and decay['hcl_loss.logit_scale'] == 0.05
    assert decay['decode_head.sim2mask.w'] == 0.05
    assert decay['text_segmenter.blocks.0.attn.in_proj_bias'] == 0.0
    assert decay['text_segmenter.blocks.0.ln_1.weight'] == 0.0
    assert decay['text_segmenter.blocks.0.mlp.c_fc.weight'] == 0.05


@pytest.mark.slow
def test_vitb16_one_training_step_cpu():
    """The full ViT-B/16 architecture (random weights) builds and runs one step at batch 2 (J=2) on CPU."""
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from test_code_segmentor import make_samples, total
    cfg = load('code_vitb16_cc.py')
    cfg.model.clip.pretrained = None
    torch.manual_seed(0)
    t0 = time.time()
    model = MODELS.build(cfg.model)
    t_build = time.time() - t0
    model.train()
    ow = build_optim_wrapper(model, cfg.optim_wrapper)
    x = torch.randn(2, 3, 224, 224)
    samples = make_samples(model.clip.text_encoder, [('a red circle next to a blue square', ['circle', 'square']),
                                                     ('a dog and a cat on a sofa', ['dog', 'sofa'])])
    t0 = time.time()
    losses = model.loss(x, samples)
    loss = total(losses)
    ow.update_params(loss)
    t_step = time.time() - t0
    assert all(torch.isfinite(v) for v in losses.values())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f'\nViT-B/16 CoDe: build {t_build:.1f}s, one step (B=2, J=2) {t_step:.1f}s, '
          f'trainable {trainable:,}, losses ' + ', '.join(f'{k}={v.item():.4f}' for k, v in losses.items()))
    assert trainable == 24_606_985
