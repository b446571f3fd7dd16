"""Exact resume under DDP: 2 CPU ranks (gloo) through tools/dist_train.sh, each with 2 dataloader workers. Run A
trains 7 iterations and checkpoints at 5; run B resumes a copy of that checkpoint and must log A's values for
iterations 6 and 7 (rank 0's log; the loss is DDP-averaged, so both ranks' streams and RNGs must be right)."""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys

import pytest

from mmseg_code.datasets.synthetic_shapes import ShapesConfig, write_caption_shards

ROOT = pathlib.Path(__file__).parents[2]
KEYS = ('loss', 'loss_kg', 'loss_tcl_img', 'loss_tcl_feat', 'loss_seg_txt', 'loss_hcl', 'lr', 'grad_norm')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _train(data, work, resume=False):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=str(_free_port()))
    cmd = ['bash', 'tools/dist_train.sh', 'configs/code/code_tiny.py', '2', '--work-dir', str(work)]
    cmd += ['--resume'] if resume else []
    cmd += ['--cfg-options', f'train_dataloader.dataset.sources.urls={data}/*.tar', 'train_dataloader.num_workers=2',
            'train_dataloader.batch_size=2', 'train_dataloader.dataset.shuffle_buffer=8', 'train_cfg.max_iters=7',
            'train_cfg.val_interval=100000', 'default_hooks.checkpoint.interval=5',
            'default_hooks.checkpoint.max_keep_ckpts=-1', 'default_hooks.logger.interval=1',
            'model.decode_head.unfreeze_iter=3']
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=500)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    return res.stdout + res.stderr


def _logged(work):
    files = list(work.glob('*/vis_data/scalars.json'))
    assert len(files) == 1, files
    rows = [json.loads(x) for x in files[0].read_text().splitlines()]
    return {r['iter']: r for r in rows if 'loss' in r}


@pytest.mark.slow
def test_two_rank_resume_matches_uninterrupted(tmp_path):
    data = tmp_path / 'shards'
    write_caption_shards(ShapesConfig(image_size=64), str(data), 64, 8)
    _train(data, tmp_path / 'a')
    ref = _logged(tmp_path / 'a')
    work = tmp_path / 'b'
    work.mkdir()
    shutil.copy(tmp_path / 'a' / 'iter_5.pth', work / 'iter_5.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_5.pth'))
    out = _train(data, work, resume=True)
    assert 'continuing the data stream of 4 dataloader workers' in out
    got = _logged(work)
    assert sorted(got) == [6, 7]
    for it in (6, 7):
        for key in KEYS:
            assert got[it][key] == pytest.approx(ref[it][key], rel=1e-5, abs=1e-7), (it, key)
