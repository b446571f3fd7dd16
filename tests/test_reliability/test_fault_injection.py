"""Fault injection: a full disk on checkpoint save, a dataloader worker that raises or dies mid-epoch, shards that
disappear during training. Training either continues with the event counted or stops with one clear error while the
last good checkpoint stays intact (and loads completely)."""
import errno
import itertools
import os
import tarfile

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.fileio import LocalBackend
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmseg.registry import DATASETS, TRANSFORMS
from torch.utils.data import DataLoader, Dataset, get_worker_info

import mmseg_code  # noqa: F401
from mmseg_code.engine.hooks.atomic_checkpoint_hook import CheckpointSaveError
from mmseg_code.datasets.synthetic_shapes import ShapesConfig, write_caption_shards

_ids = itertools.count()


class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        x = torch.as_tensor(np.stack(inputs))                # numpy samples: no shared-memory tensors in flight
        return dict(loss=((self.lin(x).squeeze(-1) - 1.0) ** 2).mean())


class CrashingDataset(Dataset):
    """Sample ``crash_at`` kills its dataloader worker process (as a segfault or the OOM killer would)."""

    def __init__(self, n, crash_at=None):
        self.n, self.crash_at = n, crash_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.crash_at and get_worker_info() is not None:
            os._exit(3)
        return dict(inputs=np.array([1.0, float(i)], dtype=np.float32))


def _runner(work, dataset, max_iters, resume=False, num_workers=0):
    return Runner(
        model=ToyModel(), work_dir=str(work), default_scope='mmseg', experiment_name=f'fault_{next(_ids)}',
        train_dataloader=dict(dataset=dataset, sampler=dict(type='DefaultSampler', shuffle=False), batch_size=1,
                              collate_fn=dict(type='pseudo_collate'), num_workers=num_workers),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=10 ** 6),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.1)),
        param_scheduler=dict(type='LinearLR', by_epoch=False, begin=0, end=max_iters, start_factor=0.1),
        default_hooks=dict(checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=2,
                                           max_keep_ckpts=1)),
        resume=resume, log_level='WARNING')


def _ckpt_files(work):
    return sorted(p.name for p in work.iterdir() if p.suffix == '.pth' or '.tmp' in p.name
                  or p.name == 'last_checkpoint')


def _assert_complete(path, iteration):
    ckpt = torch.load(str(path))                              # torch's default, weights_only=True
    assert ckpt['meta']['iter'] == iteration
    assert {'meta', 'state_dict', 'optimizer', 'param_schedulers', 'message_hub'} <= set(ckpt)
    assert set(ckpt['state_dict']) == {'lin.weight', 'lin.bias'}
    assert ckpt['optimizer']['state'] and len(ckpt['param_schedulers']) == 1
    return ckpt


def test_full_disk_on_checkpoint_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    work = tmp_path / 'work'
    real_put = LocalBackend.put

    def put_then_enospc(self, obj, filepath):  # the disk fills up half-way through iter_6.pth
        if 'iter_6' in str(filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', put_then_enospc)  # this test's fault, not the plugin's
    runner = _runner(work, CrashingDataset(16), max_iters=8)
    with pytest.raises(CheckpointSaveError) as err:
        runner.train()
    msg = str(err.value)
    assert '\n' not in msg and 'No space left on device' in msg and 'iter_6.pth' in msg
    assert f'{work / "iter_4.pth"} is intact' in msg
    # nothing under the final name, no temporary file left, the previous checkpoint complete and still referenced
    assert _ckpt_files(work) == ['iter_4.pth', 'last_checkpoint']
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_4.pth')
    ckpt = _assert_complete(work / 'iter_4.pth', 4)
    monkeypatch.setattr(LocalBackend, 'put', real_put)
    # space freed: --resume continues from iteration 4 and finishes; max_keep_ckpts=1 prunes after saving
    resumed = _runner(work, CrashingDataset(16), max_iters=8, resume=True)
    resumed.train()
    assert resumed.iter == 8
    assert _ckpt_files(work) == ['iter_8.pth', 'last_checkpoint']
    assert not torch.equal(torch.load(str(work / 'iter_8.pth'))['state_dict']['lin.weight'],
                           ckpt['state_dict']['lin.weight'])


def test_killed_dataloader_worker_stops_training_with_last_checkpoint_intact(tmp_path):
    work = tmp_path / 'work'
    runner = _runner(work, CrashingDataset(16, crash_at=5), max_iters=10, num_workers=1)
    with pytest.raises(RuntimeError, match='DataLoader worker .* exited unexpectedly'):
        runner.train()
    # PyTorch's SIGCHLD handler raises in the main process as soon as the worker dies; the worker prefetches, so
    # under load it can die before the main process has saved iteration 4 (samples 0-4 are fine, 5 kills it).
    # Either way, the last checkpoint named is the newest one and it is complete.
    last = (work / 'last_checkpoint').read_text()
    saved = sorted(int(p.stem.split('_')[1]) for p in work.glob('iter_*.pth'))
    assert saved and saved[-1] in (2, 4) and last == str(work / f'iter_{saved[-1]}.pth')
    _assert_complete(work / f'iter_{saved[-1]}.pth', saved[-1])
    assert not [p for p in work.iterdir() if '.tmp-' in p.name]


# ---------------------------------------------------------------------------------------------- streaming dataset
@TRANSFORMS.register_module(name='_RaiseOnKeys', force=True)
class RaiseOnKeys:
    """A transform with a bug: raises RuntimeError on the given keys."""

    def __init__(self, keys=()):
        self.keys = set(keys)

    def __call__(self, results):
        if results['key'] in self.keys:
            raise RuntimeError(f'injected failure on {results["key"]}')
        return results


@pytest.fixture(scope='module')
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp('fault_shards')
    paths = write_caption_shards(ShapesConfig(image_size=16), str(root), 24, 6)
    keys = []
    for p in sorted(paths):  # independent of the plugin's reader: Python's tarfile
        with tarfile.open(p) as t:
            names = [m.name.split('.')[0] for m in t.getmembers() if m.name.endswith('.txt')]
        keys.append(names)
    return root, keys


def _dataset(pattern, pipeline, **kw):
    return DATASETS.build(dict(type='ImageTextDataset', sources=dict(urls=pattern), pipeline=pipeline,
                               shuffle_buffer=0, seed=0, **kw))


def test_transform_raising_inside_workers_is_counted_and_training_continues(shards):
    root, keys = shards
    bad = {k[i] for k in keys for i in (1, 3)}               # 2 per shard, never a shard's last sample
    ds = _dataset(f'{root}/*.tar', [dict(type='_RaiseOnKeys', keys=sorted(bad))], repeat=False, length=24)
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=lambda b: b)
    seen, last_counts = [], {}
    for batch in loader:
        for s in batch:
            seen.append(s['key'])
            last_counts[s['skip_source']] = s['skip_counts']
    everything = {k for ks in keys for k in ks}
    assert sorted(seen) == sorted(everything - bad)          # every good sample once, no bad one
    assert sum(c.get('error:RuntimeError', 0) for c in last_counts.values()) == len(bad) == 8
    assert len(last_counts) == 2                             # both workers delivered


def test_shard_disappearing_during_training_is_counted(shards, tmp_path):
    root, keys = shards
    mine = tmp_path / 'shards'
    mine.mkdir()
    for p in sorted(root.glob('*.tar')):
        (mine / p.name).write_bytes(p.read_bytes())
    ds = _dataset(f'{mine}/*.tar', [], repeat=True)
    stream = iter(ds)
    first = next(stream)
    gone = sorted(p for p in mine.glob('*.tar') if str(p) != first['shard'])[0]
    os.remove(gone)                                          # deleted while training reads another shard
    out = [next(stream) for _ in range(3 * 18)]              # > 3 passes over the 18 remaining samples
    assert str(gone) not in {o['shard'] for o in out}
    assert ds.skip_counts['unreadable_shard'] >= 3           # the missing shard is met (and counted) every pass
    gone_index = sorted(p.name for p in root.glob('*.tar')).index(os.path.basename(gone))
    survivors = {k for i, ks in enumerate(keys) if i != gone_index for k in ks}
    assert {o['key'] for o in out} == survivors and len(survivors) == 18
    # all shards gone: one clear error instead of spinning forever
    for p in mine.glob('*.tar'):
        os.remove(p)
    with pytest.raises(RuntimeError) as err:
        for _ in range(100):
            next(stream)
    assert 'no usable sample in a full pass' in str(err.value) and '\n' not in str(err.value)


def test_io_error_in_the_middle_of_a_shard_is_counted_and_the_stream_goes_on(shards, monkeypatch):
    from webdataset import tariterators
    gopen_module = tariterators.gopen  # the module webdataset's url_opener opens shards with
    root, keys = shards
    failing = sorted(str(p) for p in root.glob('*.tar'))[1]
    with tarfile.open(failing) as t:  # byte offset of the third sample's first header (Python's tarfile)
        fail_at = next(m.offset for m in t.getmembers() if m.name.split('.')[0] == keys[1][2])
    real_gopen = gopen_module.gopen

    class FailingFile:  # the second shard's storage fails after its first two samples (EIO)
        def __init__(self, f):
            self.f = f

        def read(self, n=-1):
            pos = self.f.tell()
            if pos >= fail_at:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return self.f.read(fail_at - pos if n is None or n < 0 else min(n, fail_at - pos))

        def close(self):
            self.f.close()

    def flaky_gopen(url, *args, **kw):
        f = real_gopen(url, *args, **kw)
        return FailingFile(f) if url == failing else f

    monkeypatch.setattr(gopen_module, 'gopen', flaky_gopen)
    ds = _dataset(f'{root}/*.tar', [], repeat=False, length=24)
    out = list(ds)
    assert ds.skip_counts.as_dict() == {'unreadable_shard': 1}
    assert sorted(o['key'] for o in out) == sorted(k for i, ks in enumerate(keys) for k in (ks if i != 1 else ks[:2]))
