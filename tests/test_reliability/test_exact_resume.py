"""Exact resume in-process (fast; the kill -9 version through tools/train.py is test_exact_resume_kill.py).

Run A trains a tiny CoDe for 7 iterations from shards (2 dataloader workers, shuffle buffer, Gumbel masks, KgCoOp
template sampling, unfreeze at 3) and saves a checkpoint at 5. Run B — a new Runner, fresh model — resumes from that
checkpoint and trains iterations 6–7. Every logged loss term, the learning rate and the gradient norm of B must equal
A's (A's values are logged by A itself, independently of B). A third run without the resume state checks that the
comparison can fail: MMEngine's own resume differs.
"""
import copy
import itertools
import json
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmseg_code  # noqa: F401
from mmseg_code.datasets.synthetic_shapes import ShapesConfig, write_caption_shards
from mmseg_code.engine.reliability import add_reliability_hooks

KEYS = ('loss', 'loss_kg', 'loss_tcl_img', 'loss_tcl_feat', 'loss_area', 'loss_neg_area', 'loss_tv_img',
        'loss_tv_mask', 'loss_seg_txt', 'loss_hcl', 'lr', 'grad_norm')
_ids = itertools.count()


def _cfg(data, work, max_iters, resume, hooks=True):
    cfg = Config.fromfile('configs/code/code_tiny.py')
    cfg.merge_from_dict({
        'train_dataloader.dataset.sources.urls': f'{data}/*.tar', 'train_dataloader.num_workers': 2,
        'train_dataloader.persistent_workers': True, 'train_dataloader.batch_size': 2,
        'train_dataloader.dataset.shuffle_buffer': 8, 'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': 10 ** 6, 'default_hooks.checkpoint.interval': 5,
        'default_hooks.checkpoint.max_keep_ckpts': -1, 'default_hooks.logger.interval': 1,
        'model.decode_head.unfreeze_iter': 3, 'val_dataloader': None, 'val_cfg': None, 'val_evaluator': None,
        'test_dataloader': None, 'test_cfg': None, 'test_evaluator': None})
    cfg.work_dir = str(work)
    cfg.resume = resume
    cfg.log_level = 'WARNING'
    cfg.experiment_name = f'resume_{next(_ids)}'
    cfg.visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                          name=f'vis_{cfg.experiment_name}')
    if hooks:
        add_reliability_hooks(cfg)
    return cfg


def _logged(work, name=None):
    files = list(work.glob('*/vis_data/scalars.json'))
    assert len(files) == 1, files
    rows = [json.loads(x) for x in files[0].read_text().splitlines()]
    return {r['iter']: r for r in rows if 'loss' in r}


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume')
    data = root / 'shards'
    write_caption_shards(ShapesConfig(image_size=64), str(data), 48, 8)
    cfg = _cfg(data, root / 'a', 7, resume=False)
    Runner.from_cfg(cfg).train()
    return root, data, _logged(root / 'a', cfg.experiment_name)


def _resume_from_5(root, data, name, hooks):
    work = root / name
    work.mkdir()
    shutil.copy(root / 'a' / 'iter_5.pth', work / 'iter_5.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_5.pth'))
    cfg = _cfg(data, work, 7, resume=True, hooks=hooks)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.message_hub.get_info('data_samples_used') == 7 * 2        # 7 iterations x batch 2, incl. resumed
    return _logged(work, cfg.experiment_name)


def test_resumed_run_repeats_the_uninterrupted_one(reference):
    root, data, ref = reference
    assert sorted(ref) == list(range(1, 8))
    got = _resume_from_5(root, data, 'b', hooks=True)
    assert sorted(got) == [6, 7]
    for it in (6, 7):
        for key in KEYS:
            assert got[it][key] == pytest.approx(ref[it][key], rel=1e-5, abs=1e-7), (it, key)


def test_without_the_resume_state_the_run_differs(reference):
    root, data, ref = reference
    got = _resume_from_5(root, data, 'c', hooks=False)
    assert sorted(got) == [6, 7]
    assert got[6]['lr'] == pytest.approx(ref[6]['lr'])            # MMEngine restores the schedule ...
    assert any(got[it]['loss'] != pytest.approx(ref[it]['loss'], rel=1e-5) for it in (6, 7))  # ... not the rest
