"""``tools/test.py CONFIG CKPT`` on the synthetic VOC-style benchmark prints mmseg's IoU table; ``--show-dir`` with
the legend visualiser writes overlays."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_test_tool_prints_iou_table(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', PYTHONPATH=ROOT)
    from mmseg_code.datasets.synthetic_shapes import ShapesConfig, write_seg_benchmark
    write_seg_benchmark(ShapesConfig(image_size=32), str(tmp_path / 'syn' / 'seg'), 2, progress=False)  # VOC layout
    classes = (tmp_path / 'syn' / 'seg' / 'class_names.txt').read_text().split()

    import mmseg_code  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/tcl/tcl_tiny.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)

    show = tmp_path / 'show'
    run = subprocess.run(
        [sys.executable, 'tools/test.py', 'configs/tcl/tcl_tiny.py', str(ckpt), '--work-dir', str(tmp_path / 'wd'),
         '--show-dir', str(show), '--cfg-options', f'test_dataloader.dataset.data_root={tmp_path / "syn" / "seg"}',
         'visualizer.type=SegLegendVisualizer', 'default_hooks.visualization.interval=1'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert 'per class results' in out and 'mIoU:' in out
    table = out[out.index('per class results'):]
    rows = [ln.split('|')[1].strip() for ln in table.splitlines() if ln.count('|') == 4]
    assert rows[1:] == classes                              # header 'Class', then one row per class, file order
    assert table.index('background') < table.index(classes[1])
    # --show-dir: GT | prediction, each followed by its legend panel (wider than two 32-px images)
    drawn = [p for p in show.rglob('*.png')] + [p for p in show.rglob('*.jpg')]
    assert len(drawn) == 2
    img = np.array(Image.open(drawn[0]))
    assert img.shape[0] == 32 and img.shape[1] > 2 * 32
