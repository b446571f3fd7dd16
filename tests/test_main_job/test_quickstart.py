"""The README's main job (tools/quickstart.py): its parts in-process, and the whole ``--smoke`` run end to end."""
import importlib.util
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLIP = osp.join(ROOT, 'checkpoints', 'shapes_clip.pth')


def load_quickstart():
    spec = importlib.util.spec_from_file_location('quickstart', osp.join(ROOT, 'tools', 'quickstart.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_loss_curve_from_the_checkpoint_message_hub(tmp_path):
    """The curves come from MMEngine's scalar logs (MessageHub history) in the checkpoint ``last_checkpoint`` names."""
    import torch
    from mmengine.logging import MessageHub
    qs = load_quickstart()
    hub = MessageHub.get_instance('quickstart_test_writer')
    for step in range(1, 21):
        hub.update_scalar('train/loss', 2.0 / step)
        hub.update_scalar('train/loss_tcl_img', 1.0 / step)
        hub.update_scalar('train/lr', 1e-3)
    (tmp_path / 'tcl').mkdir()
    ckpt = tmp_path / 'tcl' / 'iter_20.pth'
    from mmseg_code.engine.checkpoint_format import to_weights_only   # as AtomicCheckpointHook writes it
    torch.save(to_weights_only(dict(meta=dict(iter=20), message_hub=hub.state_dict())), ckpt)
    (tmp_path / 'tcl' / 'last_checkpoint').write_text(str(ckpt))
    hist = qs.loss_history(qs.latest_checkpoint(str(tmp_path / 'tcl')))
    assert set(hist) == {'loss', 'loss_tcl_img'} and hist['loss'][0] == 2.0 and hist['loss'][-1] == 0.1
    png = qs.plot_losses(str(tmp_path / 'tcl'), str(tmp_path / 'loss.png'), 'TCL')
    assert png and Image.open(png).size[0] > 100


def test_overlays_and_metrics(tmp_path):
    qs = load_quickstart()
    seg = tmp_path / 'seg'
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        (seg / sub).mkdir(parents=True)
    pred = tmp_path / 'pred'
    pred.mkdir()
    names = [f'val_{i:06d}' for i in range(3)]
    for i, n in enumerate(names):
        Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(seg / 'JPEGImages' / f'{n}.jpg')
        lbl = np.zeros((16, 16), np.uint8)
        lbl[4:10, 4:10] = i + 1
        Image.fromarray(lbl).save(seg / 'SegmentationClass' / f'{n}.png')
        Image.fromarray(lbl).save(pred / f'{n}.png')
    (seg / 'ImageSets/Segmentation/val.txt').write_text('\n'.join(names) + '\n')
    (seg / 'class_names.txt').write_text('background\ncircle\nsquare\ntriangle\n')
    out = qs.draw_overlays(str(seg), str(pred), str(tmp_path / 'ov' / 'x.png'))
    grid = np.array(Image.open(out[0]))
    # 3 rows of 48 px (16 px × 3) + 2 white px each; per row image | 2 | GT | 2 | prediction | legend
    assert grid.shape[0] == 3 * (48 + 2) and grid.shape[1] > 3 * 48 + 4
    from mmseg_code.apis.visualization import auto_palette
    palette = auto_palette(['background', 'circle', 'square', 'triangle'])      # a free class list: generated
    for i in range(3):
        y = i * 50
        assert (grid[y + 20, 20] == 100).all()                                   # the image (grey 100)
        for x0 in (50, 100):                                                     # GT and prediction: label i + 1
            expect = np.round(0.5 * 100 + 0.5 * np.array(palette[i + 1])).astype(np.uint8)
            assert np.array_equal(grid[y + 20, x0 + 20], expect)
        legend = grid[y:y + 48, 3 * 48 + 4:]
        listed = [(legend == c).all(axis=2).any() for c in palette]
        assert listed == [True] + [k == i + 1 for k in range(1, 4)]            # background + the one class present
    wd = tmp_path / 'test' / '20240101_000000'
    wd.mkdir(parents=True)
    (wd / '20240101_000000.json').write_text(json.dumps(dict(aAcc=90.0, mIoU=55.5, mAcc=60.0)))
    assert qs.read_metrics(str(tmp_path / 'test'))['mIoU'] == 55.5


@pytest.mark.skipif(not osp.isfile(CLIP), reason='checkpoints/shapes_clip.pth not present')
def test_quickstart_smoke(tmp_path):
    """``tools/quickstart.py --smoke``: data, CLIP, untrained/TCL/CoDe train + test, table, curves, overlays."""
    work = tmp_path / 'qs'
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    out = subprocess.run([sys.executable, 'tools/quickstart.py', '--smoke', '--work-dir', str(work),
                          '--threads', '1'],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = {m.group(1): float(m.group(2)) for m in re.finditer(r'^(untrained|TCL|CoDe)\s+([0-9.]+)\s', out.stdout,
                                                               re.M)}
    assert set(rows) == {'untrained', 'TCL', 'CoDe'}, out.stdout[-2000:]
    assert all(0.0 <= v <= 100.0 for v in rows.values())
    summary = json.loads((work / 'summary.json').read_text())
    for name in ('TCL', 'CoDe'):
        o = summary['outputs'][name]
        assert osp.isfile(o['checkpoint']) and osp.isfile(o['train_log'])
        assert o['curve'] and osp.isfile(o['curve'])
        assert o['overlays'] and all(osp.isfile(p) for p in o['overlays'])
    assert 'mIoU' in summary['results']['untrained']


@pytest.mark.skipif(not osp.isfile(CLIP), reason='checkpoints/shapes_clip.pth not present')
def test_training_free_rows_build_on_the_shapes_clip(tmp_path):
    """``--training-free``: each training-free config is evaluated by the main job's ``test`` with checkpoint ``none``,
    the benchmark root and the CLIP; each builds on the shapes CLIP with the benchmark's vocabulary and predicts."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    import mmseg_code  # noqa: F401
    qs = load_quickstart()
    calls = []
    qs.evaluate_training_free(lambda *a: calls.append(a), 'data/synthetic_shapes', CLIP)
    assert [c[0] for c in calls] == ['MaskCLIP', 'SCLIP', 'ClearCLIP', 'NACLIP']
    assert all(c[2] == 'none' and c[3] == ['test_dataloader.dataset.data_root=data/synthetic_shapes/seg',
                                           f'model.clip.pretrained={CLIP}'] for c in calls)
    # and a third training run: CoDe with its trainable last block on NACLIP's attention
    assert qs.trained_methods(False) == (('TCL', qs.TCL_CFG), ('CoDe', qs.CODE_CFG))
    assert qs.trained_methods(True)[2] == ('CoDe-NACLIP', 'configs/code/code_tiny_shapes_naclip.py')
    naclip_code = Config.fromfile(osp.join(ROOT, qs.trained_methods(True)[2][1]))
    assert naclip_code.model.decode_head.last_block == 'naclip'
    assert naclip_code.model.clip.model_name == Config.fromfile(osp.join(ROOT, qs.CODE_CFG)).model.clip.model_name
    init_default_scope('mmseg')
    for name, cfg_path, _, _ in calls:
        cfg = Config.fromfile(osp.join(ROOT, cfg_path))
        assert cfg.model.clip.model_name == 'mmcode-shapes-vit' and cfg.model.test_cfg.bg_thresh == 0.5
        assert cfg.benchmark_protocol.name == name
        model = MODELS.build(cfg.model).eval()
        model.set_vocabulary(['background', 'circle', 'square', 'triangle', 'star'])
        meta = dict(ori_shape=(64, 64), img_shape=(64, 64), pad_shape=(64, 64), padding_size=[0, 0, 0, 0])
        out = model.predict(torch.zeros(1, 3, 64, 64), [SegDataSample(metainfo=meta)])[0]
        assert out.seg_logits.data.shape == (5, 64, 64), name
