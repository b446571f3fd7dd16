"""mmengine checkpoints load under torch>=2.6 with weights_only semantics, and unsafe pickles do not."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader, load_checkpoint

import mmseg_code  # noqa: F401  (registers the safe loader)
from mmseg_code.compat import UnsafeCheckpointError, safe_torch_load


def _mmengine_like_checkpoint(path):
    """What mmengine's Runner writes: tensors, numpy meta, a message hub of HistoryBuffers."""
    buf = HistoryBuffer()
    buf.update(1.5)
    buf.update(2.5)
    ckpt = dict(
        meta=dict(epoch=0, iter=np.int64(7), seed=np.int32(3), mean=np.float64(0.25),
                  dataset_meta=dict(classes=('a', 'b'), palette=[[0, 0, 0], [255, 0, 0]]),
                  hist=np.arange(4, dtype=np.float32)),
        state_dict={'w': torch.arange(3.)},
        message_hub=dict(log_scalars={'train/loss': buf}, runtime_info={'iter': 7}),
    )
    torch.save(ckpt, path)
    return ckpt


def test_plain_torch_load_rejects_mmengine_checkpoint(tmp_path):
    # The problem being fixed: torch>=2.6 defaults to weights_only=True and refuses this file.
    path = str(tmp_path / 'ckpt.pth')
    _mmengine_like_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_mmengine_loader_uses_safe_scheme_and_restores_everything(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    _mmengine_like_checkpoint(path)
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert ckpt['meta']['iter'] == 7 and ckpt['meta']['seed'] == 3
    assert ckpt['meta']['hist'].tolist() == [0.0, 1.0, 2.0, 3.0]
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.mean() == pytest.approx(2.0)  # (1.5 + 2.5) / 2
    assert buf.current() == pytest.approx(2.5)
    assert torch.equal(ckpt['state_dict']['w'], torch.tensor([0., 1., 2.]))


def test_load_checkpoint_into_model(tmp_path):
    model = torch.nn.Linear(2, 1)
    path = str(tmp_path / 'model.pth')
    torch.save(dict(meta=dict(seed=np.int64(0)), state_dict={'weight': torch.ones(1, 2), 'bias': torch.zeros(1)}),
               path)
    load_checkpoint(model, path, map_location='cpu')
    assert model.weight.tolist() == [[1.0, 1.0]]


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_arbitrary_code_is_refused_with_a_clear_message(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'payload': _Evil()}, path)
    with pytest.raises(UnsafeCheckpointError, match='weights_only=True'):
        safe_torch_load(path)
    with pytest.raises(UnsafeCheckpointError, match='trust_checkpoint.py'):
        CheckpointLoader.load_checkpoint(path)


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    # A pickle that asks getattr for anything but HistoryBuffer's statistics methods is refused.
    class _GetattrPayload:
        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    path = str(tmp_path / 'getattr.pth')
    torch.save({'x': _GetattrPayload()}, path)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        safe_torch_load(path)


def test_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError, match='can not be found'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'nope.pth'))
