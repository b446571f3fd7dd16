"""Shapes-CLIP pre-training on MMEngine: the batch's texts and positives, the multi-positive ClipLoss (hand-computed
values), the optimiser's parameter groups, the curriculum hook, the exported checkpoint, the zero-shot metric and an
exact resume of the whole run (``configs/clip_pretrain/shapes_clip_vit.py``)."""
import json
import math
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from open_clip.loss import ClipLoss

import mmseg_code  # noqa: F401
from mmseg_code.datasets.synthetic_shapes import ShapesConfig, write_caption_shards, write_seg_benchmark
from mmseg_code.evaluation import ZeroShotClassAccuracy
from mmseg_code.models.clip_pretrain import batch_texts, drop_colours, noun_phrases, phrase_words, positives
from mmseg_code.models.losses.multi_positive_clip_loss import MultiPositiveClipLoss

CONFIG = 'configs/clip_pretrain/shapes_clip_vit.py'


def test_drop_colours_and_phrases():
    assert drop_colours('an orange circle above a blue square', ['orange', 'blue']) == 'a circle above a square'
    assert noun_phrases('a red circle above a blue square') == ['a red circle', 'a blue square']
    assert noun_phrases('a red circle, a star and a green square.') == ['a red circle', 'a star', 'a green square']
    assert phrase_words('a Red circle') == frozenset({'red', 'circle'})


def test_positives_by_content_and_source():
    truths = [[phrase_words('a red circle'), phrase_words('a blue square')],   # image 0
              [phrase_words('a green circle')]]                                 # image 1
    contents = [[frozenset({'circle'})],                      # "a photo of a circle.": true of both
                [frozenset({'red', 'circle'})],               # only image 0
                [frozenset({'green', 'square'})],             # neither; written for image 1 (source) -> image 1
                [frozenset({'red', 'circle'}), frozenset({'blue', 'square'})]]   # image 0's caption
    pos = positives(truths, contents, [{0}, {0}, {1}, {0}])
    assert torch.equal(pos, torch.tensor([[1, 1, 0, 1], [1, 0, 1, 0]], dtype=torch.bool))
    # default sources: text j written for image j (text 1 "red circle" is then image 1's own text)
    assert torch.equal(positives(truths, contents[:2]), torch.tensor([[1, 1], [1, 1]], dtype=torch.bool))


def test_batch_texts_merges_identical_texts():
    truths = ['a red circle', 'a red circle', 'a blue star above a green square']
    texts, contents, sources = batch_texts(truths, torch.Generator().manual_seed(0), ['{}'], subcaption_prob=0.0,
                                           object_prompt_prob=1.0)
    assert len(texts) == len(set(texts))
    i = texts.index('a red circle')
    assert sources[i] == {0, 1}                                  # one column, both images
    assert contents[i] == [frozenset({'red', 'circle'})]
    assert 'a blue star above a green square' in texts
    for t, c, src in zip(texts, contents, sources):  # every other text: an object phrase of the images it came from
        if t in truths:
            continue
        assert len(c) == 1 and c[0] == frozenset(t.split())
        for s in src:
            assert any(c[0] <= phrase_words(p) for p in noun_phrases(truths[s]))
    texts, _, sources = batch_texts(truths, torch.Generator().manual_seed(0), ['{}'], 0.0, 0.0)
    assert texts == ['a red circle', 'a blue star above a green square'] and sources == [{0, 1}, {2}]


def test_multi_positive_loss_rectangular_by_hand():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), dim=-1)
    same = torch.tensor([[1, 0, 1], [0, 1, 1]], dtype=torch.bool)
    # by hand: cosine logits x2 -> image 0: [2, 0, sqrt2], image 1: [0, 2, sqrt2]
    r = math.sqrt(2.0)
    lse_row = math.log(math.exp(2) + 1 + math.exp(r))
    loss_i = -(0.5 * (2 - lse_row) + 0.5 * (r - lse_row))            # same for both rows by symmetry
    lse_c01 = math.log(math.exp(2) + 1)                              # text 0 and text 1 columns
    lse_c2 = math.log(2 * math.exp(r))
    loss_t = (-(2 - lse_c01) - (2 - lse_c01) - (r - lse_c2)) / 3     # text 2: both images, half each
    got = MultiPositiveClipLoss()(img, txt, torch.tensor(2.0), positives=same)
    assert abs(float(got) - (loss_i + loss_t) / 2) < 1e-5


def test_multi_positive_loss_with_identity_is_clip_loss():
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=-1)
    ours = MultiPositiveClipLoss()(img, txt, torch.tensor(10.0), positives=torch.eye(5, dtype=torch.bool))
    assert float(ours) == pytest.approx(float(ClipLoss()(img, txt, torch.tensor(10.0))), rel=1e-6)
    with pytest.raises(ValueError, match='at least one positive'):
        MultiPositiveClipLoss()(img, txt, torch.tensor(10.0), positives=torch.zeros(5, 5, dtype=torch.bool))


def test_weight_decay_groups_follow_the_recipe():
    """No decay on gains, biases, embeddings and the temperature (rule of the former trainer, applied to names)."""
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {names[id(p)]: g['weight_decay'] for g in optim.optimizer.param_groups for p in g['params']}
    for name, p in model.clip.named_parameters():
        no_decay = p.ndim < 2 or 'embedding' in name or 'logit_' in name or name.endswith('bias')
        assert decay['clip.' + name] == (0.0 if no_decay else 0.1), name
    assert {g['lr'] for g in optim.optimizer.param_groups} == {1e-3}


def test_zero_shot_accuracy_counts_single_class_images():
    metric = ZeroShotClassAccuracy()
    gt = [torch.tensor([[255, 1], [1, 1]]), torch.tensor([[0, 0], [2, 255]]), torch.tensor([[3, 3], [3, 255]]),
          torch.tensor([[255, 255], [255, 255]])]
    pred = [1, 0, 2, 0]
    metric.process({}, [dict(gt_sem_seg=dict(data=g[None]), pred_label=torch.tensor([p])) for g, p in zip(gt, pred)])
    # scored: image 0 (class 1, right) and image 2 (class 3, wrong); image 1 has two classes, image 3 none
    assert metric.compute_metrics(metric.results) == dict(zeroshot_acc=50.0, zeroshot_images=2)


@pytest.fixture(scope='module')
def shapes_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('pretrain')
    cfg = ShapesConfig(image_size=64, seed=0)
    write_caption_shards(cfg, str(root / 'shards'), 96, shard_size=24, progress=False)
    write_seg_benchmark(cfg, str(root / 'seg'), 10, progress=False)
    return root


def _cfg(data, work, max_iters, resume=False):
    cfg = Config.fromfile(CONFIG)
    warm = 2
    cfg.merge_from_dict({
        'train_dataloader.dataset.sources.urls': f'{data}/shards/*.tar', 'train_dataloader.batch_size': 8,
        'train_dataloader.dataset.shuffle_buffer': 20, 'val_dataloader.dataset.data_root': f'{data}/seg',
        'test_dataloader.dataset.data_root': f'{data}/seg', 'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': max_iters, 'param_scheduler.0.end': warm, 'param_scheduler.0.start_factor': 0.5,
        'param_scheduler.1.begin': warm, 'param_scheduler.1.end': 6, 'param_scheduler.1.T_max': 6 - warm,
        'default_hooks.checkpoint.interval': 3, 'default_hooks.checkpoint.max_keep_ckpts': -1,
        'default_hooks.logger.interval': 1, 'custom_hooks.2.fraction': 0.5})   # after ExactResumeHook, NonFiniteGuardHook
    cfg.work_dir = str(work)
    cfg.resume = resume
    cfg.log_level = 'WARNING'
    cfg.experiment_name = f'pretrain_{work.name}'
    cfg.visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                          name=f'vis_{work.name}')
    return cfg


def _logged(work):
    rows = [json.loads(x) for f in work.glob('*/vis_data/scalars.json') for x in f.read_text().splitlines()]
    return {r['iter']: r for r in rows if 'loss' in r}


def test_pretraining_run_exports_resumes_exactly_and_evaluates(shapes_data, tmp_path):
    """6 iterations (curriculum on for 3) with a dataloader worker; a run resumed from the checkpoint at 3 logs the
    same losses, learning rates and gradient norms for 4-6; the exported CLIP loads into ``OpenCLIP`` and gives the
    trained model's image embeddings; unseen BPE rows are zero."""
    from mmseg_code.models.clip import OpenCLIP
    ref_work = tmp_path / 'a'
    runner = Runner.from_cfg(_cfg(shapes_data, ref_work, 6))
    runner.train()
    ref = _logged(ref_work)
    assert sorted(ref) == [1, 2, 3, 4, 5, 6]
    model = runner.model
    assert model.curriculum is False  # the hook switched it off at iteration 3 of 6
    out = ref_work / 'shapes_clip.pth'
    ckpt = torch.load(out, weights_only=True)
    sd = ckpt['state_dict']
    assert all(v.dtype == torch.float16 for v in sd.values() if v.is_floating_point())
    seen = model.seen_tokens.cpu()
    assert seen.sum() > 10 and not sd['token_embedding.weight'][~seen].any()
    assert sd['token_embedding.weight'][seen].abs().sum(1).min() > 0
    log = json.loads((ref_work / 'shapes_clip_log.json').read_text())
    assert log['iters'] == 6 and {'mIoU', 'zeroshot_acc'} <= set(log['eval'])
    loaded = OpenCLIP(model_name='mmcode-shapes-vit', pretrained=str(out))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a = loaded.image_encoder.visual(x)
        b = model.clip.visual.half().float()(x)
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)

    work = tmp_path / 'b'
    work.mkdir()
    shutil.copy(ref_work / 'iter_3.pth', work / 'iter_3.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_3.pth'))
    Runner.from_cfg(_cfg(shapes_data, work, 6, resume=True)).train()
    got = _logged(work)
    assert sorted(got) == [4, 5, 6]
    for it in (4, 5, 6):
        for key in ('loss', 'lr', 'grad_norm', 'temperature', 'num_texts'):
            assert got[it][key] == pytest.approx(ref[it][key], rel=1e-5, abs=1e-7), (it, key)
