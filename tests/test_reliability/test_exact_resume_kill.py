"""Exact resume after ``kill -9``: a tiny CoDe run (2 dataloader workers, shuffle buffer, Gumbel masks, KgCoOp
template sampling, unfreeze inside the run) is killed after a checkpoint; ``tools/train.py --resume`` must log the same
losses, learning rates and gradient norms as the killed run logged for the same iterations before it died.

The reference values are the killed run's own log lines (it ran uninterrupted up to its death), so the comparison
is between two independent processes, not read back from the code under test.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from mmseg_code.compat import safe_torch_load
from mmseg_code.datasets.synthetic_shapes import ShapesConfig, write_caption_shards

ROOT = pathlib.Path(__file__).parents[2]
KEYS = ('loss', 'loss_kg', 'loss_tcl_img', 'loss_tcl_feat', 'loss_area', 'loss_neg_area', 'loss_tv_img',
        'loss_tv_mask', 'loss_seg_txt', 'loss_hcl', 'lr', 'grad_norm')


def _cmd(data, work, max_iters, resume=False):
    cmd = [sys.executable, 'tools/train.py', 'configs/code/code_tiny.py', '--work-dir', str(work)]
    if resume:
        cmd.append('--resume')
    return cmd + ['--cfg-options', f'train_dataloader.dataset.sources.urls={data}/*.tar',
                  'train_dataloader.num_workers=2', 'train_dataloader.persistent_workers=True',
                  'train_dataloader.batch_size=2', 'train_dataloader.dataset.shuffle_buffer=8',
                  'train_cfg.val_interval=100000', 'default_hooks.checkpoint.interval=5',
                  'default_hooks.logger.interval=1', 'model.decode_head.unfreeze_iter=3',
                  f'train_cfg.max_iters={max_iters}']


def _scalars(work):
    out = {}
    for f in sorted(work.glob('*/vis_data/scalars.json')):
        for line in f.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # the killed run may leave a half-written last line
                continue
            if 'loss' in row:
                out.setdefault(f.parent.parent.name, {})[row['iter']] = row
    return out


@pytest.mark.slow  # two tools/train.py processes: ~30 s on an idle 2-core machine, ~70 s under load
def test_kill9_then_resume_matches_uninterrupted(tmp_path):
    data, work = tmp_path / 'shards', tmp_path / 'work'
    write_caption_shards(ShapesConfig(image_size=64), str(data), 48, 8)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')

    # 1. a long run, killed with SIGKILL (whole process group: the main process and its dataloader workers)
    #    once it has logged iteration 8 (checkpoint at 5; the next one would be at 10)
    log = open(tmp_path / 'killed.log', 'w')
    proc = subprocess.Popen(_cmd(data, work, 1000), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + 150
    try:
        while time.time() < deadline:
            runs = _scalars(work)
            if runs and max(next(iter(runs.values()))) >= 8:
                break
            assert proc.poll() is None, (tmp_path / 'killed.log').read_text()[-3000:]
            time.sleep(0.02)
        else:
            pytest.fail('the training run did not reach iteration 8 in time')
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
    killed = next(iter(_scalars(work).values()))
    last_ckpt = pathlib.Path((work / 'last_checkpoint').read_text().strip())
    resumed_from = int(last_ckpt.stem.split('_')[1])
    assert resumed_from in (5, 10) and last_ckpt.is_file()
    for ckpt in work.glob('*.pth'):  # a save cut by the kill never leaves a truncated file under a final name
        assert 'resume_state' in safe_torch_load(str(ckpt))

    # 2. resume from the last checkpoint to beyond the killed run's last logged iteration
    last_logged = max(killed)
    res = subprocess.run(_cmd(data, work, last_logged + 1, resume=True), cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=200)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert f'continuing the data stream of 2 dataloader workers at their recorded positions (iteration ' \
           f'{resumed_from})' in out
    runs = _scalars(work)
    resumed = [r for name, r in runs.items() if min(r) == resumed_from + 1]
    assert len(resumed) == 1, {k: sorted(v) for k, v in runs.items()}
    resumed = resumed[0]
    common = sorted(set(killed) & set(resumed))
    assert len(common) >= 1 and common[0] == resumed_from + 1, (sorted(killed), sorted(resumed))
    for it in common:
        for key in KEYS:
            assert resumed[it][key] == pytest.approx(killed[it][key], rel=1e-5, abs=1e-7), (it, key)
