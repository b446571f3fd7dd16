"""The README's evaluation command, verbatim but for the CLIP size and the data root:
``python tools/test.py configs/{code,tcl}/zeroshot/<name>.py CHECKPOINT`` reads the data and prints an mIoU.

The ViT-B/16 configs are run with the plugin's tiny random CLIP (``model.clip.model_name=mmcode-tiny-vit-p16
model.clip.pretrained=None``) on a generated 3-image VOC-layout root, checkpoint ``none``."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tests', 'test_evaluation'))
from evalkit import make_voc  # noqa: E402

TINY_CLIP = ['model.clip.model_name=mmcode-tiny-vit-p16', 'model.clip.pretrained=None']


@pytest.mark.parametrize('method', ['code', 'tcl', 'training_free/sclip'])
def test_zeroshot_configs_build_with_tiny_clip(method):
    import mmseg_code  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    folder = osp.join(ROOT, 'configs', method) if method.startswith('training_free') else \
        osp.join(ROOT, 'configs', method, 'zeroshot')
    paths = sorted(glob.glob(osp.join(folder, '*_vitb16_*.py')))     # the 8 benchmarks (not _shapes, not the model)
    assert len(paths) == 8
    for path in paths:
        cfg = Config.fromfile(path)
        cfg.merge_from_dict(dict(o.split('=') for o in TINY_CLIP))
        cfg.model.clip.pretrained = None
        model = MODELS.build(cfg.model)
        n = len([ln for ln in open(cfg.model.vocabulary) if ln.strip()])     # one class per line
        assert len(model.vocabulary) == n, path


# ~25 s each on an idle core; TCL's (same protocol, other model base) only with -m slow
@pytest.mark.parametrize('method', ['code', pytest.param('tcl', marks=pytest.mark.slow), 'training_free/naclip'])
def test_test_tool_on_zeroshot_config(tmp_path, method):
    """The training-free config runs without a checkpoint the same way (``none``)."""
    voc = make_voc(tmp_path / 'data')
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    cfg = f'configs/{method}/{method.split("/")[-1]}_vitb16_voc21.py' if method.startswith('training_free') else \
        f'configs/{method}/zeroshot/{method}_vitb16_voc21.py'
    run = subprocess.run(
        [sys.executable, 'tools/test.py', cfg, 'none', '--work-dir', str(tmp_path / 'wd'), '--cfg-options',
         *TINY_CLIP, f'test_dataloader.dataset.data_root={voc}', 'test_dataloader.num_workers=0'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert 'per class results' in out and 'mIoU:' in out
    # the 3 images were read: MMEngine's test loop reports its last iteration 3/3 and writes the metrics json
    assert 'Iter(test) [3/3]' in out
    metrics = [json.load(open(p)) for p in glob.glob(str(tmp_path / 'wd' / '*' / '*.json'))]
    assert len(metrics) == 1 and 0.0 <= metrics[0]['mIoU'] <= 100.0
