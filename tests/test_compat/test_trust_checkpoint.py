"""The explicit opt-in converter turns a trusted pickle-heavy checkpoint into a safely loadable one."""
import argparse
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmseg_code.utils.checkpoint import refusal_line

ROOT = pathlib.Path(__file__).parents[2]


def test_trust_checkpoint_roundtrip(tmp_path):
    src, out = tmp_path / 'src.pth', tmp_path / 'out.pth'
    # argparse.Namespace stands for any object outside the allow-list.
    torch.save({'state_dict': {'w': torch.ones(2)},
                'meta': {'seed': np.int64(5), 'obj': argparse.Namespace(value=3)}}, src)
    with pytest.raises(pickle.UnpicklingError) as e:
        torch.load(str(src))                                     # torch's default: weights_only=True
    assert 'numpy' in refusal_line(e.value) and 'trust_checkpoint.py' in refusal_line(e.value)  # the first refused
    subprocess.run([sys.executable, 'tools/model_converters/trust_checkpoint.py', str(src), str(out)],
                   check=True, capture_output=True, cwd=ROOT)
    ckpt = torch.load(str(out))
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))
    assert ckpt['meta']['seed'] == 5 and type(ckpt['meta']['seed']) is int
    assert ckpt['meta']['obj'] == 'Namespace(value=3)'
