"""Session fixtures of the docs test (the generated files and checkpoints of ``substitutions.py``) and its summary.

The summary line at the end of a pytest run that collected the docs test counts every block of the documents:
how many ran (and failed), how many are ``slow`` (deselected without ``-m slow``) and how many are marked not
runnable, with each reason.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from markdown_blocks import ROOT, collect  # noqa: E402

PYTHON = sys.executable
TRAIN_TIMEOUT = 600


def block_env(extra_path: str = '') -> dict:
    """Environment of every block and fixture command: the venv's python first on PATH, the repository importable."""
    env = dict(os.environ)
    env['PATH'] = os.pathsep.join(p for p in (extra_path, osp.dirname(PYTHON), env.get('PATH', '')) if p)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (ROOT, env.get('PYTHONPATH', '')) if p)
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='', MPLBACKEND='Agg',
               PYTHONDONTWRITEBYTECODE='1')
    return env


def run_checked(cmd, cwd, what, timeout=TRAIN_TIMEOUT):
    res = subprocess.run(cmd, cwd=cwd, env=block_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f'docs-test fixture {what} failed (exit {res.returncode}): {" ".join(cmd)}\n'
                           + res.stdout[-6000:])
    return res.stdout


# ---------------------------------------------------------------------------------------------- generated files
def shapes_image(path, size=(96, 64), seed=0):
    """A coloured-shapes picture (a red circle, a green square on a textured grey background)."""
    rng = np.random.default_rng(seed)
    w, h = size
    bg = (110 + rng.integers(-20, 20, (h, w, 1))).repeat(3, axis=2).astype(np.uint8)
    img = Image.fromarray(bg)
    d = ImageDraw.Draw(img)
    d.ellipse([6, 10, 6 + h // 2, 10 + h // 2], fill=(220, 30, 30))
    d.rectangle([w // 2 + 4, h // 4, w - 8, h // 4 + h // 2], fill=(30, 200, 40))
    img.save(path, quality=95)
    return path


def make_voc(root):
    """``data/VOCdevkit/VOC2012``: 2 images 64×48, labels background / aeroplane (1) / bird (3), val split."""
    voc = osp.join(root, 'data', 'VOCdevkit', 'VOC2012')
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(osp.join(voc, sub), exist_ok=True)
    names = ['2007_000001', '2007_000002']
    for k, name in enumerate(names):
        shapes_image(osp.join(voc, 'JPEGImages', name + '.jpg'), size=(64, 48), seed=k)
        lab = np.zeros((48, 64), np.uint8)
        lab[10:34, 6:30] = 1 if k == 0 else 3
        lab[0, :] = 255
        Image.fromarray(lab, mode='L').save(osp.join(voc, 'SegmentationClass', name + '.png'))
    with open(osp.join(voc, 'ImageSets/Segmentation/val.txt'), 'w') as f:
        f.write('\n'.join(names) + '\n')


def make_pairs(root):
    """``my_pairs/`` (images + same-name captions) and ``pairs.jsonl`` + ``images/``."""
    captions = ['a red circle next to a green square', 'a green square above a red circle',
                'a photo of a red circle']
    os.makedirs(osp.join(root, 'my_pairs'))
    os.makedirs(osp.join(root, 'images'))
    with open(osp.join(root, 'pairs.jsonl'), 'w') as f:
        for k, cap in enumerate(captions):
            shapes_image(osp.join(root, 'my_pairs', f'{k:03d}.jpg'), seed=10 + k)
            with open(osp.join(root, 'my_pairs', f'{k:03d}.txt'), 'w') as g:
                g.write(cap + '\n')
            shapes_image(osp.join(root, 'images', f'{k:03d}.jpg'), seed=20 + k)
            f.write(json.dumps(dict(image=f'{k:03d}.jpg', caption=cap)) + '\n')


@pytest.fixture(scope='session')
def docs_data(tmp_path_factory):
    """The files of rule A (``substitutions.py``), generated once; each block gets a copy."""
    root = str(tmp_path_factory.mktemp('docs_data'))
    make_voc(root)
    for k, name in enumerate(('photo.jpg', 'a.jpg', 'b.jpg', 'img.jpg')):
        shapes_image(osp.join(root, name), seed=100 + k)
    make_pairs(root)
    run_checked([PYTHON, osp.join(ROOT, 'tools/dataset_converters/make_synthetic_shapes.py'), '--out',
                 osp.join(root, 'data', 'synthetic_shapes'), '--num-train', '64', '--num-val', '8'], root,
                'make_synthetic_shapes', timeout=300)
    return root


# ---------------------------------------------------------------------------------------------- checkpoints (rule D)
def _train(tmp_path_factory, docs_data, name, config, extra=()):
    work = str(tmp_path_factory.mktemp(f'ckpt_{name}'))
    os.symlink(osp.join(docs_data, 'data'), osp.join(work, 'data'))
    run_checked([PYTHON, osp.join(ROOT, 'tools/train.py'), osp.join(ROOT, config), '--work-dir', 'run',
                 '--cfg-options', 'train_cfg.max_iters=2', *extra], work, f'{name} checkpoint (2 iterations)')
    ckpt = osp.join(work, 'run', 'iter_2.pth')
    if not osp.isfile(ckpt):
        raise RuntimeError(f'docs-test fixture: {config} trained but wrote no {ckpt}')
    return ckpt


@pytest.fixture(scope='session')
def code_checkpoint(tmp_path_factory, docs_data):
    return _train(tmp_path_factory, docs_data, 'code', 'configs/code/code_tiny.py')


@pytest.fixture(scope='session')
def tcl_checkpoint(tmp_path_factory, docs_data):
    return _train(tmp_path_factory, docs_data, 'tcl', 'configs/tcl/tcl_tiny.py')


@pytest.fixture(scope='session')
def tseg_checkpoint(tmp_path_factory, docs_data):
    # An absolute data root: ReferSegDataset joins a relative data_root twice (reported; the docs' own TSEG block
    # uses the relative one and shows it), and this fixture only has to make a checkpoint.
    data = str(tmp_path_factory.mktemp('tseg_refer'))
    run_checked([PYTHON, osp.join(ROOT, 'projects/tseg/tools/make_synthetic_refer.py'), '--out', data,
                 '--num-train', '16', '--num-val', '4'], data, 'tseg data')
    return _train(tmp_path_factory, docs_data, 'tseg', 'projects/tseg/configs/tseg_tiny_shapes-refer.py',
                  extra=(f'train_dataloader.dataset.data_root={data}', f'val_dataloader.dataset.data_root={data}',
                         f'test_dataloader.dataset.data_root={data}'))


def new_workspace(docs_data, path):
    """A fresh workspace: a copy of the generated files (blocks may write into ``data/``)."""
    shutil.copytree(docs_data, path, dirs_exist_ok=True, symlinks=True)
    return path


# ---------------------------------------------------------------------------------------------- summary
_RESULTS = {}     # block id -> (outcome, seconds with fixtures, (wall, CPU) of its commands or None)


def pytest_runtest_logreport(report):
    if '::test_block[' not in report.nodeid:
        return
    bid = report.nodeid.split('::test_block[', 1)[1][:-1]
    if report.when == 'call':
        block = dict(report.user_properties).get('block_seconds')     # (wall, CPU) of the block's own commands
        _RESULTS[bid] = (report.outcome, report.duration, block)
    elif report.when == 'setup' and report.outcome == 'failed':
        _RESULTS[bid] = ('failed', report.duration, None)
    elif report.when == 'setup' and report.outcome == 'skipped' and bid not in _RESULTS:
        _RESULTS[bid] = ('skipped', 0.0, None)


def pytest_terminal_summary(terminalreporter):
    blocks = collect().blocks
    runnable = [b for b in blocks if b.runnable]
    ran = {b.id: _RESULTS[b.id] for b in runnable if b.id in _RESULTS and _RESULTS[b.id][0] != 'skipped'}
    failed = [bid for bid, (outcome, _, _) in ran.items() if outcome == 'failed']
    slow = [b for b in runnable if b.marker == 'slow' and b.id not in ran]
    skips = [b for b in runnable if b.marker == 'skip']
    other = [b for b in runnable if b.marker == '' and b.id not in ran]
    tr = terminalreporter
    tr.write_sep('-', 'docs blocks (tests/test_docs)')
    tr.write_line(f'docs blocks: {len(blocks)} in {len({b.path for b in blocks})} documents, '
                  f'{len(blocks) - len(runnable)} text (not commands); of {len(runnable)} command blocks: '
                  f'{len(ran)} ran ({len(ran) - len(failed)} passed, {len(failed)} failed, '
                  f'{sum(t for _, t, _ in ran.values()):.0f} s with fixtures), '
                  f'{len(slow)} slow (deselected; run with -m slow), '
                  f'{len(skips)} marked not runnable'
                  + (f', {len(other)} not selected' if other else ''))
    for bid, (outcome, took, block) in ran.items():
        own = f'; its commands {block[0]:.0f} s, {block[1]:.0f} s CPU' if block else ''
        tr.write_line(f'  {outcome:<13} {bid}: {took:.0f} s{own}')
    for b in skips:
        tr.write_line(f'  not runnable  {b.id}: {b.reason}')
    for b in slow:
        tr.write_line(f'  slow          {b.id}' + (f': {b.reason}' if b.reason else ''))
