"""Checkpoints load with weights_only semantics; mismatched keys fail with one line listing them unless non-strict
loading is asked for; converted-style files (no frozen CLIP, no loss temperatures) load strictly."""
import argparse
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_checkpoint
from mmseg.registry import MODELS

import mmseg_code  # noqa: F401
from mmseg_code.compat import CheckpointKeyError, UnsafeCheckpointError, set_strict_loading
from mmseg_code.engine.hooks.exact_resume_hook import capture_rng_state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def model():
    init_default_scope('mmseg')
    torch.manual_seed(0)
    return MODELS.build(Config.fromfile(os.path.join(ROOT, 'configs/code/code_tiny.py')).model)


@pytest.fixture
def strict_default():
    yield
    set_strict_loading(True)


def _save(path, state_dict, **extra):
    torch.save(dict(meta=dict(iter=4, seed=np.int64(0), arr=np.arange(3)), state_dict=state_dict,
                    message_hub=dict(log_scalars={'train/loss': HistoryBuffer([1.0, 2.0], [1, 1])}), **extra), path)
    return str(path)


def test_plugin_checkpoint_with_resume_state_loads_weights_only(model, tmp_path):
    sd = {k: v.clone() + 1 for k, v in model.state_dict().items()}
    path = _save(tmp_path / 'ok.pth', sd, resume_state=dict(rng=[capture_rng_state(model)], positions={0: {}}))
    other = MODELS.build(Config.fromfile(os.path.join(ROOT, 'configs/code/code_tiny.py')).model)
    ckpt = load_checkpoint(other, path, map_location='cpu')
    assert all(torch.equal(other.state_dict()[k], sd[k]) for k in sd)
    assert isinstance(ckpt['resume_state']['rng'][0]['python'], tuple)
    # a file that would run code is refused (weights_only), with one line
    evil = tmp_path / 'evil.pth'
    torch.save(dict(state_dict=sd, payload=argparse.Namespace(cmd='rm -rf ~')), evil)
    with pytest.raises(UnsafeCheckpointError) as e:
        load_checkpoint(other, str(evil), map_location='cpu')
    assert '\n' not in str(e.value) and 'weights_only=True' in str(e.value)


def test_mismatched_keys_fail_with_the_key_lists_unless_non_strict(model, tmp_path, strict_default):
    sd = dict(model.state_dict())
    w = sd.pop('decode_head.sim2mask.w')
    sd['decode_head.sim2mask.weight'] = w
    sd['decoder.extra.bias'] = torch.zeros(3)
    path = _save(tmp_path / 'bad.pth', sd)
    with pytest.raises(CheckpointKeyError) as e:
        load_checkpoint(model, path, map_location='cpu')
    msg = str(e.value)
    assert '\n' not in msg
    assert '1 missing key(s) [decode_head.sim2mask.w]' in msg
    assert '2 unexpected key(s) [decode_head.sim2mask.weight, decoder.extra.bias]' in msg
    assert 'load_strict=False' in msg
    before = model.decode_head.sim2mask.b.detach().clone()
    sd['decode_head.sim2mask.b'] = before + 1
    path = _save(tmp_path / 'bad2.pth', sd)
    set_strict_loading(False)                                    # what --cfg-options load_strict=False does
    load_checkpoint(model, path, map_location='cpu')
    assert torch.equal(model.decode_head.sim2mask.b.detach(), before + 1)
    with torch.no_grad():
        model.decode_head.sim2mask.b.copy_(before)


def test_converted_style_checkpoint_without_clip_and_loss_keys_loads_strictly(model, tmp_path):
    sd = {k: v.clone() for k, v in model.state_dict().items()
          if not k.startswith(('clip.', 'loss_seg.', 'hcl_loss.'))}
    assert any(k.startswith('text_encoder.noun_prompt.') for k in sd)
    load_checkpoint(model, _save(tmp_path / 'converted.pth', sd), map_location='cpu')
    del sd['text_encoder.noun_prompt.ctx']                       # a trained part missing is an error
    with pytest.raises(CheckpointKeyError, match=r'1 missing key\(s\) \[text_encoder.noun_prompt.ctx\]'):
        load_checkpoint(model, _save(tmp_path / 'converted_bad.pth', sd), map_location='cpu')


def test_stock_mmseg_models_keep_mmengine_behaviour(tmp_path):
    from mmengine.model import BaseModule
    m = torch.nn.Sequential(torch.nn.Linear(2, 2))
    assert not isinstance(m, BaseModule)
    load_checkpoint(m, _save(tmp_path / 'stock.pth', {'0.weight': torch.zeros(2, 2), 'junk': torch.zeros(1)}),
                    map_location='cpu')                          # non-strict as in mmengine: only a warning
    assert torch.equal(m[0].weight.detach(), torch.zeros(2, 2))
