"""Tiny MGCA end to end through the user-facing tools: synthetic shards → tools/train.py → tools/test.py
(with semantic units, and per-pixel), and 2 CPU ranks (gloo) computing exactly the single-process loss."""
import os
import pathlib
import re
import socket
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[3]
CFG = 'projects/mgca/configs/mgca_tiny.py'


def _env():
    return dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', PYTHON=sys.executable)


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    import runpy
    data = tmp_path_factory.mktemp('mgca') / 'shapes'
    gen = runpy.run_path(str(ROOT / 'tools' / 'dataset_converters' / 'make_synthetic_shapes.py'))
    assert gen['main'](['--out', str(data), '--num-train', '16', '--num-val', '3', '--shard-size', '16']) == 0
    return data


@pytest.fixture(scope='module')
def trained(shapes, tmp_path_factory):
    work = tmp_path_factory.mktemp('mgca_work')
    train = subprocess.run(
        [sys.executable, 'tools/train.py', CFG, '--work-dir', str(work), '--cfg-options',
         f'train_dataloader.dataset.sources.urls={shapes}/shards/*.tar', 'train_dataloader.batch_size=4',
         f'val_dataloader.dataset.data_root={shapes}/seg', f'test_dataloader.dataset.data_root={shapes}/seg',
         'train_cfg.max_iters=3', 'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=3',
         'default_hooks.logger.interval=1'],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    log = train.stdout + train.stderr
    assert train.returncode == 0, log[-4000:]
    assert 'Iter(train) [3/3]' in log
    for key in ('loss_obj', 'loss_reg', 'loss_pix'):
        values = re.findall(rf'{key}: (\S+)', log)
        assert values and all(v not in ('nan', 'inf') for v in values), key
    ckpt = work / 'iter_3.pth'
    assert ckpt.is_file()
    return ckpt


def _test_py(variant, ckpt, shapes, work):
    test = subprocess.run(
        [sys.executable, 'tools/test.py', variant, str(ckpt), '--work-dir', str(work),
         '--cfg-options', f'test_dataloader.dataset.data_root={shapes}/seg'],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    out = test.stdout + test.stderr
    assert test.returncode == 0, out[-4000:]
    miou = re.findall(r'mIoU: ([0-9.]+)', out)
    assert miou and 0.0 <= float(miou[-1]) <= 100.0
    for name in ('background', 'circle', 'square'):
        assert re.search(rf'\|\s*{name}\s*\|', out), name


def test_train_py_then_test_py_with_semantic_units(trained, shapes, tmp_path):
    _test_py(CFG, trained, shapes, tmp_path)


@pytest.mark.slow
def test_test_py_per_pixel(trained, shapes, tmp_path):
    _test_py('projects/mgca/configs/mgca_tiny_pixel.py', trained, shapes, tmp_path)


_DDP = r'''
import os, sys, torch, torch.distributed as dist
sys.path.insert(0, os.getcwd())
from projects.mgca.mgca.models.losses import MGCALoss
dist.init_process_group('gloo')
rank = dist.get_rank()
g = torch.Generator().manual_seed(0)
v = torch.randn(6, 30, 8, generator=g) * 3
t = torch.randn(6, 8, generator=g) * 3
loss = MGCALoss()
full = loss(v.clone().requires_grad_(True), t)
vl = v[3 * rank:3 * rank + 3].clone().requires_grad_(True)
part = loss(vl, t[3 * rank:3 * rank + 3])
sum(part.values()).backward()
vf = v.clone().requires_grad_(True)
'''


def _port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_ranks_compute_the_global_batch_loss(tmp_path):
    script = tmp_path / 'ddp.py'
    script.write_text(_DDP + r'''
dist.destroy_process_group()
ref = MGCALoss()(vf, t)
sum(ref.values()).backward()
for k in ref:
    print(k, part[k].item(), ref[k].item())
# gathered gradients are summed over ranks: local grad / world = d(global mean loss)/d(local rows)
assert torch.allclose(vl.grad / 2, vf.grad[3 * rank:3 * rank + 3], atol=1e-5), rank
print('GRAD_OK', rank)
''')
    env = dict(_env(), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(_port()))
    res = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                          '--master_port', env['MASTER_PORT'], str(script)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert 'GRAD_OK 0' in out and 'GRAD_OK 1' in out
    per = {}
    for k, lp, lr in re.findall(r'(loss_\w+) (\S+) (\S+)', out):
        per.setdefault(k, []).append(float(lp))
        per[k + '_ref'] = float(lr)
    for k in ('loss_obj', 'loss_reg', 'loss_pix'):
        assert len(per[k]) == 2
        assert sum(per[k]) / 2 == pytest.approx(per[k + '_ref'], rel=1e-5), k
