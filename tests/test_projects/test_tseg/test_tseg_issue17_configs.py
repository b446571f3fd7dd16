"""Issue 17 item 11: TSEG's zero-shot VOC evaluation (Sec. 4.6), weakly-supervised PASCAL VOC configs (Table 1) and
fully-supervised RefCOCO configs build (tiny encoders) and do what the paper describes."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS, TRANSFORMS
from mmseg.structures import SegDataSample

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFG = osp.join(ROOT, 'projects/tseg/configs')
ZS = 'tseg-zeroshot_vits16-bert-small_phrasecut_voc12-448.py'
VOC = {m: f'tseg-{m}-baseline_vits16-bert-small_4xb4-16k_voc12aug-384x384.py' for m in ('spa', 'gap', 'gmp')}
FULL = {d: f'tseg-full_vits16-bert-small_4xb4-80k_{d}-512x512.py' for d in ('refcoco', 'refcoco+', 'refcocog')}


def _cfg(name):
    return Config.fromfile(osp.join(CFG, name))


def _tiny(cfg, tiny):
    """The config's model with the tiny encoders of the other TSEG tests (conftest's ``tiny_model_cfg``)."""
    model = copy.deepcopy(cfg.model.to_dict())
    for key in ('image_encoder', 'text_encoder', 'data_preprocessor'):
        model[key] = copy.deepcopy(tiny[key])
    model['similarity'] = dict(model['similarity'], embed_dim=48)
    torch.manual_seed(0)
    return MODELS.build(model)


@pytest.mark.parametrize('name', [ZS, *VOC.values(), *FULL.values()])
def test_configs_build_with_tiny_encoders(name, tiny_model_cfg):
    cfg = _cfg(name)
    model = _tiny(cfg, tiny_model_cfg)
    assert type(model).__name__ == 'TSEG'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'test_evaluator'):
        assert cfg.get(key) is not None, key


def test_zero_shot_voc_filters_classes_by_confidence_then_argmax(monkeypatch, tiny_model_cfg):
    cfg = _cfg(ZS)
    assert cfg.model.test_cfg.score_thr == 0.5 and len(cfg.model.test_cfg.class_names) == 20
    assert cfg.test_dataloader.dataset.type == 'PascalVOCDataset' and cfg.test_evaluator.type == 'IoUMetric'
    model = _tiny(cfg, tiny_model_cfg).eval()
    names = cfg.model.test_cfg.class_names
    masks = torch.zeros(20, 4, 4)
    masks[0, :, :2] = 0.9     # aeroplane: confident, left half
    masks[7, :2, :] = 0.8     # cat: confident, top half (wins the top-left quarter? no: 0.9 > 0.8)
    masks[14, 2:, :] = 0.95   # person: strong mask but its image-level score is below 0.5 -> dropped
    scores = torch.full((20, ), 0.1)
    scores[0], scores[7], scores[14] = 0.7, 0.6, 0.4
    seen = {}

    def fake_segment(inputs, expressions, valid=None, out=None):
        seen['expr'] = expressions
        return [dict(masks=masks.clone(), scores=scores, logits=torch.logit(scores))]
    monkeypatch.setattr(model, 'segment', fake_segment)
    sample = SegDataSample(metainfo=dict(img_shape=(4, 4), ori_shape=(4, 4)))
    label = model.predict(torch.zeros(1, 3, 4, 4), [sample])[0].pred_sem_seg.data[0]
    assert seen['expr'] == [names]
    want = torch.zeros(4, 4, dtype=torch.long)
    want[:2, 2:] = 8          # cat (VOC label 8)
    want[:, :2] = 1           # aeroplane (VOC label 1) beats cat on the left
    torch.testing.assert_close(label, want)   # person (15) never appears: filtered by its score


def test_voc_weak_labels_come_from_the_whole_image_and_reach_the_loss(tiny_model_cfg):
    cfg = _cfg(VOC['spa'])
    p = cfg.train_dataloader.dataset.datasets[0].pipeline
    assert [t['type'] for t in p][:3] == ['LoadImageFromFile', 'LoadAnnotations', 'SegLabelsToExpressions']
    assert 'expressions' in p[-1]['meta_keys']
    assert cfg.train_cfg.max_iters == 16000 and cfg.train_dataloader.batch_size * 4 == 16
    assert cfg.optim_wrapper.optimizer.type == 'SGD' and cfg.optim_wrapper.optimizer.lr == 1e-3
    assert {c: _cfg(n).model.pooling.mode for c, n in VOC.items()} == dict(spa='spa', gap='gap', gmp='gmp')
    t = TRANSFORMS.build(p[2])
    seg = np.zeros((6, 6), np.uint8)
    seg[0, 0], seg[1, 1], seg[2, 2] = 8, 15, 255          # cat, person, boundary
    out = t(dict(gt_seg_map=seg))
    assert out['expressions'] == ['cat', 'person']
    model = _tiny(cfg, tiny_model_cfg).train()
    samples = [SegDataSample(metainfo=dict(expressions=['cat', 'person'])),
               SegDataSample(metainfo=dict(expressions=['cat']))]
    losses = model.loss(torch.randn(2, 3, 64, 64), samples)
    assert torch.isfinite(losses['loss_cls']) and losses['num_expr'].item() == 2


def test_full_supervision_refcoco_configs():
    datasets = {d: _cfg(n) for d, n in FULL.items()}
    phrasecut = _cfg('tseg-full_vits16-bert-small_4xb4-120k_phrasecut-512x512.py')
    for d, cfg in datasets.items():
        assert cfg.model.supervision == 'full'
        assert cfg.train_dataloader.dataset.dataset == d and cfg.val_dataloader.dataset.dataset == d
        assert cfg.optim_wrapper == phrasecut.optim_wrapper                     # AdamW 5e-5
        assert cfg.train_dataloader.batch_size == 4 and cfg.train_cfg.max_iters == 80000
        assert cfg.train_dataloader.dataset.pipeline == phrasecut.train_dataloader.dataset.pipeline
    assert datasets['refcocog'].train_dataloader.dataset.split_by == 'umd'
