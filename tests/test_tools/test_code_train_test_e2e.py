"""CoDe end to end through the user-facing tools: shards → train.py (1 process) or dist_train.sh (2 CPU processes,
slow: a rank sometimes aborts at exit after a finished run, see the note in ``_run``) → test.py."""
import os
import pathlib
import re
import socket
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_code_tiny_train_then_test(tmp_path):
    _run(tmp_path, nproc=1)


@pytest.mark.slow
def test_code_tiny_dist_train_then_test(tmp_path):
    # Was: in roughly 1 of 5 runs inside the full suite, rank 1 aborted *after* the finished run ("terminate called
    # without an active exception", exit -6) despite barrier + destroy_process_group. Since train.py/test.py free
    # the runner and collect cycles before leaving the process group: 16/16 clean runs (some beside the full suite).
    # Kept behind `-m slow` until it has run clean inside the suite for longer.
    _run(tmp_path, nproc=2)


def _run(tmp_path, nproc):
    data, work = tmp_path / 'shapes', tmp_path / 'work'
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=str(_free_port()))
    gen = subprocess.run([sys.executable, 'tools/dataset_converters/make_synthetic_shapes.py', '--out', str(data),
                          '--num-train', '64', '--num-val', '6', '--shard-size', '16'],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0, gen.stderr[-2000:]
    assert len(list((data / 'shards').glob('*.tar'))) == 4

    overrides = [
        f'train_dataloader.dataset.sources.urls={data}/shards/*.tar',
        'train_dataloader.num_workers=0', 'train_dataloader.batch_size=2',
        f'test_dataloader.dataset.data_root={data}/seg', f'val_dataloader.dataset.data_root={data}/seg',
        'train_cfg.max_iters=4', 'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=4',
        'default_hooks.logger.interval=1', 'model.decode_head.unfreeze_iter=2',
    ]
    cmd = (['bash', 'tools/dist_train.sh', 'configs/code/code_tiny.py', '2'] if nproc == 2 else
           [sys.executable, 'tools/train.py', 'configs/code/code_tiny.py'])
    train = subprocess.run(cmd + ['--work-dir', str(work), '--cfg-options', *overrides],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    log = train.stdout + train.stderr
    assert train.returncode == 0, log[-4000:]
    assert f'GPU number: {nproc}' in log and 'Iter(train) [4/4]' in log
    # the optimizer's log is one summary (SummaryOptimWrapperConstructor), not a line per parameter (issue 14)
    assert 'paramwise_options' not in log and 'is skipped since its requires_grad' not in log
    assert re.search(r'optimizer AdamW: [0-9,]+ trainable parameters in \d+ tensors, 2 settings; frozen: ', log)
    for key in ('loss_kg', 'loss_seg_txt', 'loss_hcl', 'loss_tcl_img', 'loss_tcl_feat', 'loss_area'):
        values = re.findall(rf'{key}: (\S+)', log)
        assert values and all(v not in ('nan', 'inf') for v in values), key
    ckpt = work / 'iter_4.pth'
    assert ckpt.is_file()

    test = subprocess.run([sys.executable, 'tools/test.py', 'configs/code/code_tiny.py', str(ckpt), '--work-dir',
                           str(work / 'test'), '--cfg-options', f'test_dataloader.dataset.data_root={data}/seg',
                           'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = test.stdout + test.stderr
    assert test.returncode == 0, out[-4000:]
    miou = re.findall(r'mIoU: ([0-9.]+)', out)
    assert miou and 0.0 <= float(miou[-1]) <= 100.0
    # mmseg's per-class IoU table lists every benchmark class.
    for name in ('background', 'circle', 'square', 'triangle', 'star'):
        assert re.search(rf'\|\s*{name}\s*\|', out), name
