"""Issue 17 item 11: TSEG's tf-idf soft ground truth (Table 2c) against a hand computation."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from projects.tseg.tseg.models.losses import batch_targets, tfidf_similarity

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def test_tfidf_targets_by_hand():
    # batch: image 0 "tabby cat", image 1 "brown cat" and "red car"
    texts, t = batch_targets([['tabby cat'], ['brown cat', 'red car']], 'tfidf')
    assert texts == ['tabby cat', 'brown cat', 'red car']
    # L = 3 documents, each word count 1 of 2 words: tf = 1/2. df: cat 2, others 1.
    idf_cat, idf_1 = math.log(3 / 2) + 1, math.log(3) + 1
    # tabby cat = (tabby: idf_1/2, cat: idf_cat/2); brown cat = (brown: idf_1/2, cat: idf_cat/2) -> shared: cat
    cos = (idf_cat / 2) ** 2 / ((idf_1 / 2) ** 2 + (idf_cat / 2) ** 2)
    want = torch.tensor([[1.0, cos, 0.0],
                         [cos, 1.0, 1.0]])
    torch.testing.assert_close(t, want)
    assert 0 < cos < 1


def test_identity_is_the_default_and_tfidf_keeps_own_expressions_at_one():
    exprs = [['man on left', 'man'], ['woman'], ['man']]
    texts, ident = batch_targets(exprs)
    assert texts == ['man on left', 'man', 'woman']
    torch.testing.assert_close(ident, torch.tensor([[1., 1., 0.], [0., 0., 1.], [0., 1., 0.]]))
    _, soft = batch_targets(exprs, 'tfidf')
    assert torch.all(soft[ident == 1] == 1) and torch.all((soft >= 0) & (soft <= 1))
    assert soft[2, 0] > 0 and soft[1, 0] == 0  # "man" overlaps "man on left"; "woman" shares no word
    sim = tfidf_similarity(texts)
    torch.testing.assert_close(sim, sim.t())
    with pytest.raises(ValueError, match='ground_truth'):
        batch_targets(exprs, 'bm25')


def test_tfidf_config_reaches_the_loss(monkeypatch):
    cfg = Config.fromfile(osp.join(ROOT, 'projects/tseg/configs/'
                                         'tseg-tfidf_vits16-bert-small_4xb8-120k_phrasecut-384x384.py'))
    assert cfg.model.train_cfg == dict(ground_truth='tfidf')
    from projects.tseg.tseg.models import tseg as tseg_module
    seen = []
    real = tseg_module.batch_targets
    monkeypatch.setattr(tseg_module, 'batch_targets', lambda e, g: seen.append(g) or real(e, g))

    # a TSEG whose encoders are stubs: only what TSEG.loss touches
    model = tseg_module.TSEG.__new__(tseg_module.TSEG)
    torch.nn.Module.__init__(model)
    model.train_cfg = dict(ground_truth='tfidf')
    model.test_cfg = dict(expressions_key='expressions')
    model.supervision = 'weak'
    model.patch_text_scores = lambda x, texts: (torch.zeros(1, 4, len(texts)), None)
    model.pooling = lambda s: (s.mean(1), None)
    captured = {}
    model.loss_cls = lambda z, tg: captured.setdefault('t', tg) is None or z.sum() * 0
    model.similarity = type('S', (), {'scale': torch.tensor(1.0)})()
    from mmseg.structures import SegDataSample
    samples = [SegDataSample(metainfo=dict(expressions=['tabby cat'])),
               SegDataSample(metainfo=dict(expressions=['brown cat']))]
    model.loss(torch.zeros(2, 3, 16, 16), samples)
    assert seen == ['tfidf'] and 0 < captured['t'][0, 1] < 1
