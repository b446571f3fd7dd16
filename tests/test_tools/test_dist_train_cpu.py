"""`tools/dist_train.sh CONFIG 2` trains with 2 CPU processes (gloo) and writes a loadable checkpoint."""
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = pathlib.Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _make_seg_data(root: pathlib.Path, n: int = 8) -> None:
    rng = np.random.default_rng(0)
    (root / 'img').mkdir(parents=True)
    (root / 'ann').mkdir()
    for i in range(n):
        img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        lbl = (img[..., 0] > 127).astype(np.uint8)
        Image.fromarray(img).save(root / 'img' / f'{i}.png')
        Image.fromarray(lbl).save(root / 'ann' / f'{i}.png')


CONFIG = '''
custom_imports = dict(imports=['mmseg_code'], allow_failed_imports=False)
default_scope = 'mmseg'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[128.0] * 3, std=[64.0] * 3, bgr_to_rgb=True,
                           size=(32, 32)),
    backbone=dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8, norm_cfg=norm_cfg,
                  out_indices=(3, )),
    decode_head=dict(type='FCNHead', in_channels=64, in_index=0, channels=8, num_convs=1, num_classes=2,
                     norm_cfg=norm_cfg, loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
train_dataloader = dict(
    batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='BaseSegDataset', data_root={root!r}, metainfo=dict(classes=('a', 'b')),
                 data_prefix=dict(img_path='img', seg_map_path='ann'), img_suffix='.png', seg_map_suffix='.png',
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                           dict(type='PackSegInputs')]))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=100)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
param_scheduler = []
default_hooks = dict(timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=1),
                     param_scheduler=dict(type='ParamSchedulerHook'),
                     checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=4),
                     sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
'''


def test_dist_train_two_cpu_processes(tmp_path):
    data, work = tmp_path / 'data', tmp_path / 'work'
    _make_seg_data(data)
    cfg = tmp_path / 'tiny_seg.py'
    cfg.write_text(CONFIG.format(root=str(data)))
    env = dict(os.environ, PORT=str(_free_port()), PYTHON=sys.executable, CUDA_VISIBLE_DEVICES='',
               OMP_NUM_THREADS='1')
    out = subprocess.run(['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', str(work)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    # torchrun exits 0 only when every rank exited 0; mmengine reports the world size as "GPU number".
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert 'Iter(train) [4/4]' in log
    ckpt_path = work / 'iter_4.pth'
    assert ckpt_path.is_file()

    # The checkpoint (AtomicCheckpointHook: weights-only clean) loads through mmengine's unchanged loader into a
    # model built from the same config.
    import mmseg_code  # noqa: F401
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(Config.fromfile(str(cfg)).model)
    ckpt = load_checkpoint(model, str(ckpt_path), map_location='cpu', strict=True)
    assert ckpt['meta']['iter'] == 4
    w = model.decode_head.conv_seg.weight
    assert torch.equal(w, ckpt['state_dict']['decode_head.conv_seg.weight'])


def test_stock_mmseg_stack_end_to_end_single_process(tmp_path):
    """numpy 2 / opencv 5 / torch 2.14 with mmseg's own train → test (IoUMetric) → inference APIs."""
    data, work = tmp_path / 'data', tmp_path / 'work'
    _make_seg_data(data)
    cfg_text = CONFIG.format(root=str(data)) + textwrap.dedent(f'''
        test_dataloader = dict(batch_size=1, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                               dataset=train_dataloader['dataset'])
        test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
        test_cfg = dict(type='TestLoop')
        test_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
        visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')], name='visualizer')
    ''')
    cfg = tmp_path / 'tiny_seg.py'
    cfg.write_text(cfg_text)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    run = lambda *a: subprocess.run([sys.executable, *a], cwd=ROOT, env=env, capture_output=True, text=True,
                                    timeout=300)
    out = run('tools/train.py', str(cfg), '--work-dir', str(work))
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    out = run('tools/test.py', str(cfg), str(work / 'iter_4.pth'), '--work-dir', str(work / 'test'),
              '--out', str(work / 'preds'))
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert 'mIoU' in out.stdout + out.stderr
    assert len(list((work / 'preds').glob('*.png'))) == 8

    # mmseg.apis on the same checkpoint: torch's weights_only default reads AtomicCheckpointHook's files.
    import mmseg_code  # noqa: F401
    from mmseg.apis import MMSegInferencer, inference_model, init_model
    model = init_model(str(cfg), str(work / 'iter_4.pth'), device='cpu', cfg_options={})
    result = inference_model(model, str(data / 'img' / '0.png'))
    assert tuple(result.pred_sem_seg.data.shape) == (1, 32, 32)
    inferencer = MMSegInferencer(model=str(cfg), weights=str(work / 'iter_4.pth'), device='cpu')
    pred = inferencer(str(data / 'img' / '1.png'))['predictions']
    assert pred.shape == (32, 32) and set(np.unique(pred)) <= {0, 1}
