"""AtomicCheckpointHook (``default_hooks.checkpoint`` of every config): a symlinked checkpoint keeps its link and the
target gets the new content, an existing file keeps its mode, temporaries of a killed save are removed after the
next successful save, old checkpoints are pruned after the new one is complete, and the files load with torch's
``weights_only=True`` default through MMEngine's own loader (resume included)."""
import itertools
import os
import stat
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmseg_code  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_ids = itertools.count()


class Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        x = torch.as_tensor(np.stack(inputs))
        return dict(loss=((self.lin(x).squeeze(-1) - 1.0) ** 2).mean())


class Ones(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        return dict(inputs=np.array([1.0, float(i)], dtype=np.float32))


def _runner(work, max_iters, resume=False, **ckpt):
    return Runner(
        model=Toy(), work_dir=str(work), default_scope='mmseg', experiment_name=f'atomic_{next(_ids)}',
        train_dataloader=dict(dataset=Ones(), sampler=dict(type='DefaultSampler', shuffle=False), batch_size=1,
                              collate_fn=dict(type='pseudo_collate'), num_workers=0),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=10 ** 6),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=2, **ckpt)),
        custom_hooks=[dict(type='ExactResumeHook')], resume=resume, log_level='WARNING')


def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def test_symlink_mode_stale_temporaries_and_pruning(tmp_path):
    work, elsewhere = tmp_path / 'work', tmp_path / 'elsewhere'
    work.mkdir()
    elsewhere.mkdir()
    target = elsewhere / 'kept.pth'
    target.write_bytes(b'old')
    (work / 'iter_2.pth').symlink_to(target)                      # a user links a checkpoint into the work dir
    (work / 'iter_4.pth').write_bytes(b'old')
    os.chmod(work / 'iter_4.pth', 0o600)                          # and keeps another private
    dead = _dead_pid()
    stale = [work / f'.iter_6.pth.tmp-{dead}', work / f'.last_checkpoint.tmp-{dead}']
    for p in stale:
        p.write_bytes(b'half a checkpoint')                       # left by a save that was killed
    _runner(work, 4, max_keep_ckpts=-1).train()
    assert (work / 'iter_2.pth').is_symlink() and os.readlink(work / 'iter_2.pth') == str(target)
    assert torch.load(str(target))['meta']['iter'] == 2          # the target got the new content
    assert stat.S_IMODE(os.stat(work / 'iter_4.pth').st_mode) == 0o600
    assert torch.load(str(work / 'iter_4.pth'))['meta']['iter'] == 4
    assert not any(p.exists() for p in stale)
    assert not [p for p in os.listdir(work) if '.tmp-' in p] and not [p for p in os.listdir(elsewhere) if '.tmp-' in p]
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_4.pth')

    # max_keep_ckpts=1: the older checkpoint goes only once the new one is complete; resume reads the format back
    runner = _runner(work, 8, resume=True, max_keep_ckpts=1)
    runner.train()
    assert runner.iter == 8
    assert sorted(p for p in os.listdir(work) if p.endswith('.pth')) == ['iter_2.pth', 'iter_4.pth', 'iter_8.pth']
    ckpt = torch.load(str(work / 'iter_8.pth'))                   # torch's default, weights_only=True
    assert ckpt['message_hub']['log_scalars']['train/loss']['__mmseg_code__'] == 'HistoryBuffer'
    assert ckpt['resume_state']['iter'] == 8


def test_configs_turn_it_on_for_every_entry_point():
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/code/code_tiny.py'))
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert [h['type'] for h in cfg.custom_hooks][:2] == ['ExactResumeHook', 'NonFiniteGuardHook']
