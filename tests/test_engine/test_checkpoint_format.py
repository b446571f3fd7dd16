"""AtomicCheckpointHook's format: what MMEngine's Runner puts in a checkpoint (HistoryBuffers, numpy scalars and
arrays, registered statistics) loads with torch's ``weights_only=True`` default and comes back as the same objects;
anything else is refused, and the refusal is one line naming the refused global and the opt-in tool."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from mmseg_code.engine.checkpoint_format import from_weights_only, to_weights_only, unsupported_paths
from mmseg_code.utils.checkpoint import refusal_line, refused_global


def _runner_like_checkpoint():
    buf = HistoryBuffer()
    buf.update(1.5)
    buf.update(2.5)
    return dict(
        meta=dict(epoch=0, iter=np.int64(7), seed=np.int32(3), mean=np.float64(0.25), dtype=np.dtype('float16'),
                  dataset_meta=dict(classes=('a', 'b'), palette=[[0, 0, 0], [255, 0, 0]]),
                  hist=np.arange(4, dtype=np.float32), rng=('MT19937', np.arange(5, dtype=np.uint32), 2, 0, 0.0),
                  names=np.array(['x', 'yz']), empty=np.zeros((0, 3))),
        state_dict={'w': torch.arange(3.)},
        message_hub=dict(log_scalars={'train/loss': buf}, runtime_info={'iter': 7, 'best': np.float32(0.5)},
                         resumed_keys={'train/loss': True}))


def test_plain_torch_load_refuses_a_stock_mmengine_checkpoint(tmp_path):
    path = str(tmp_path / 'stock.pth')
    torch.save(_runner_like_checkpoint(), path)
    with pytest.raises(pickle.UnpicklingError) as e:
        torch.load(path)
    line = refusal_line(e.value)
    assert '\n' not in line and path in line and 'trust_checkpoint.py' in line
    assert refused_global(str(e.value)).startswith(('numpy', 'mmengine.logging.history_buffer.HistoryBuffer'))


def test_converted_checkpoint_loads_weights_only_and_restores_every_value(tmp_path):
    path = str(tmp_path / 'clean.pth')
    source = _runner_like_checkpoint()
    torch.save(to_weights_only(source), path)
    assert unsupported_paths(to_weights_only(source)) == []
    raw = torch.load(path)                                        # torch's default: weights_only=True
    ckpt = from_weights_only(raw)
    meta = ckpt['meta']
    assert type(meta['iter']) is np.int64 and meta['iter'] == 7
    assert type(meta['seed']) is np.int32 and type(meta['mean']) is np.float64 and meta['dtype'] == np.float16
    assert meta['hist'].dtype == np.float32 and meta['hist'].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert meta['rng'][1].dtype == np.uint32 and meta['rng'][1].tolist() == list(range(5))
    assert meta['names'].tolist() == ['x', 'yz'] and meta['empty'].shape == (0, 3)
    assert meta['dataset_meta'] == dict(classes=('a', 'b'), palette=[[0, 0, 0], [255, 0, 0]])
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and buf.mean() == pytest.approx(2.0) and buf.current() == 2.5
    assert type(ckpt['message_hub']['runtime_info']['best']) is np.float32
    assert torch.equal(ckpt['state_dict']['w'], torch.tensor([0., 1., 2.]))


def test_restoring_is_in_place_for_references_held_by_hooks():
    ckpt = to_weights_only(dict(resume_state=dict(rng=[dict(numpy=np.arange(3))])))
    held = ckpt['resume_state']                                   # what a hook's after_load_checkpoint keeps
    from_weights_only(ckpt)
    assert isinstance(held['rng'][0]['numpy'], np.ndarray)


def test_registered_statistics_do_not_make_checkpoints_refused(tmp_path):
    @HistoryBuffer.register_statistics
    def double_mean(self, window_size=None):
        return 2 * self.mean(window_size)

    try:
        buf = HistoryBuffer([1.0, 3.0], [1, 1])
        path = str(tmp_path / 'stats.pth')
        torch.save(to_weights_only(dict(message_hub=dict(log_scalars={'loss': buf}))), path)
        restored = from_weights_only(torch.load(path))['message_hub']['log_scalars']['loss']
        assert restored.statistics('double_mean') == pytest.approx(4.0)
    finally:
        HistoryBuffer._statistics_methods.pop('double_mean', None)


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_code_is_refused_with_one_line_naming_the_global(tmp_path):
    path = str(tmp_path / 'EVIL.pt')
    torch.save({'state_dict': {}, 'payload': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError) as e:
        torch.load(path)
    line = refusal_line(e.value)
    assert '\n' not in line and f'{path}: refused to unpickle posix.system' in line
    assert f'tools/model_converters/trust_checkpoint.py {path} OUT.pth' in line


@pytest.mark.parametrize('message, expected', [
    ('Weights only load failed. In PyTorch 2.6, ...\n\n\nTrying to load unsupported GLOBAL posix.system whose module '
     'posix is blocked.\n\nCheck the documentation of torch.load ...', 'posix.system'),
    ('Weights only load failed. ...\nPlease file an issue with the following so that we can make `weights_only=True` '
     'compatible with your use case: WeightsUnpickler error: Unsupported global: GLOBAL argparse.Namespace was not '
     'an allowed global by default.', 'argparse.Namespace'),
    ('Weights only load failed. Re-running `torch.load` ...\n WeightsUnpickler error: Unsupported operand 149\n\n',
     'Unsupported operand 149'),
    ('Weights only load failed.\nsomething new\nCheck the documentation of torch.load', 'something new'),
])
def test_refused_global_from_old_and_new_torch_messages(message, expected):
    assert refused_global(message) == expected


def test_unsupported_objects_are_reported():
    import argparse
    assert unsupported_paths(to_weights_only(dict(meta=dict(x=argparse.Namespace())))) == \
        ['meta.x (argparse.Namespace)']
