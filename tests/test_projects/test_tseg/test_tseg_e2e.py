"""Tiny TSEG end to end on the generated referring benchmark: config → train → evaluate (per-split referring
metric), the inferencer and the demo; the same through tools/train.py and tools/test.py behind ``slow``."""
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).parents[3]
CFG = 'projects/tseg/configs/tseg_tiny_shapes-refer.py'


@pytest.fixture(scope='module')
def refer_data(tmp_path_factory):
    from mmseg_code.datasets.synthetic_shapes import ShapesConfig

    from projects.tseg.tseg.datasets import write_referring_benchmark
    out = tmp_path_factory.mktemp('tseg') / 'shapes_refer'
    cfg = ShapesConfig(image_size=64, max_objects=3)
    write_referring_benchmark(cfg, str(out), 16, 'train', split_index=0)
    write_referring_benchmark(cfg, str(out), 4, 'val', split_index=1)
    return out


def _cfg(data, work):
    from mmengine.config import Config
    cfg = Config.fromfile(str(ROOT / CFG))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = str(data)
    cfg.train_dataloader.batch_size = 4
    cfg.train_cfg.max_iters = 3
    cfg.train_cfg.val_interval = 3
    cfg.param_scheduler[0].end = 3
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 3
    cfg.work_dir = str(work)
    return cfg


def test_tiny_tseg_trains_and_evaluates(refer_data, tmp_path):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(_cfg(refer_data, tmp_path))
    runner.train()
    metrics = runner.test()
    for key in ('val/mIoU', 'val/oIoU', 'val/Pr@0.5', 'mIoU'):
        assert 0.0 <= metrics[key] <= 100.0, key
    n_expr = sum(len(r['sentences']) for rec in __import__('json').load(open(refer_data / 'refs_val.json'))['images']
                 for r in rec['refs'])
    assert metrics['val/num_pairs'] == n_expr
    ckpt = tmp_path / 'iter_3.pth'
    assert ckpt.is_file()

    # inferencer + demo on the trained checkpoint
    from projects.tseg.tseg.apis import TSEGInferencer
    inf = TSEGInferencer(str(ROOT / CFG), weights=str(ckpt))
    img = (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)
    res = inf(img, ['the red circle left of the square', 'the star'])
    assert res['masks'].shape == (2, 50, 70) and res['masks'].dtype == bool and res['scores'].shape == (2, )
    import runpy
    demo = runpy.run_path(str(ROOT / 'projects/tseg/demo/tseg_demo.py'))
    img_path = next((refer_data / 'images').glob('val_*.jpg'))
    out = tmp_path / 'demo.png'
    assert demo['main']([str(img_path), '--expr', 'the red circle', '--expr', 'the square', '--config',
                         str(ROOT / CFG), '--checkpoint', str(ckpt), '--out', str(out)]) == 0
    assert out.is_file()
    # the plugin's tools/demo.py --expr routes to the same TSEG demo: the same picture
    tools_demo = runpy.run_path(str(ROOT / 'tools/demo.py'))
    out2 = tmp_path / 'demo_tools.png'
    assert tools_demo['main']([str(img_path), '--expr', 'the red circle', '--expr', 'the square', '--config',
                               str(ROOT / CFG), '--checkpoint', str(ckpt), '--out', str(out2)]) == 0
    from PIL import Image
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(out2)))
    with pytest.raises(SystemExit):  # neither --vocab nor --expr: one usage error
        tools_demo['parse_args']([str(img_path)])


@pytest.mark.slow
def test_tools_train_then_test(refer_data, tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    data = [f'{k}.dataset.data_root={refer_data}' for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    train = subprocess.run([sys.executable, 'tools/train.py', CFG, '--work-dir', str(tmp_path), '--cfg-options',
                            *data, 'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
                            'default_hooks.checkpoint.interval=2'],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert train.returncode == 0, (train.stdout + train.stderr)[-3000:]
    test = subprocess.run([sys.executable, 'tools/test.py', CFG, str(tmp_path / 'iter_2.pth'), '--work-dir',
                           str(tmp_path / 'test'), '--cfg-options', *data],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    out = test.stdout + test.stderr
    assert test.returncode == 0, out[-3000:]
    assert re.search(r'val: mIoU [0-9.]+, oIoU [0-9.]+, Pr@0.5', out)
