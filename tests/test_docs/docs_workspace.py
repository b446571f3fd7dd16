"""The docs test's workspace: the generated files of ``substitutions.py`` (rule A), the 2-iteration checkpoints
(rule D) and the environment every block and fixture command runs in."""
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys

import numpy as np
from PIL import Image, ImageDraw

from markdown_blocks import ROOT

PYTHON = sys.executable
TRAIN_TIMEOUT = 600


def block_env() -> dict:
    """Environment of every block and fixture command: the venv's python first on PATH, the repository importable."""
    env = dict(os.environ)
    env['PATH'] = os.pathsep.join(p for p in (osp.dirname(PYTHON), env.get('PATH', '')) if p)
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


def build_data(root):
    """The files of rule A (``substitutions.py``) under ``root``."""
    make_voc(root)
    for k, name in enumerate(('photo.jpg', 'a.jpg', 'b.jpg')):
        shapes_image(osp.join(root, name), seed=100 + k)
    make_pairs(root)
    run_checked([PYTHON, osp.join(ROOT, 'tools/dataset_converters/make_synthetic_shapes.py'), '--out',
                 osp.join(root, 'data', 'synthetic_shapes'), '--num-train', '64', '--num-val', '8'], root,
                'make_synthetic_shapes', timeout=300)
    return root


# ---------------------------------------------------------------------------------------------- checkpoints (rule D)
def train_checkpoint(work, docs_data, config, extra=()):
    """``tools/train.py CONFIG`` for 2 iterations in ``work`` (which sees ``docs_data``'s ``data/``)."""
    os.symlink(osp.join(docs_data, 'data'), osp.join(work, 'data'))
    run_checked([PYTHON, osp.join(ROOT, 'tools/train.py'), osp.join(ROOT, config), '--work-dir', 'run',
                 '--cfg-options', 'train_cfg.max_iters=2', *extra], work, f'{config} for 2 iterations')
    ckpt = osp.join(work, 'run', 'iter_2.pth')
    if not osp.isfile(ckpt):
        raise RuntimeError(f'docs-test fixture: {config} trained but wrote no {ckpt}')
    return ckpt


def run_block(cmd, cwd, timeout):
    """Run a block in its own process group; (exit status or None on timeout, output). Whatever the block started
    (training workers, a tool's subprocesses) is killed with it: nothing outlives the test."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=block_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        status = None
        _kill_group(proc.pid)
        out, _ = proc.communicate()
    _kill_group(proc.pid)
    return status, out


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def repo_state():
    """``git status`` lines of the repository (ignored files by directory), or None outside a git checkout; a block
    that changes them wrote into the repository."""
    try:
        res = subprocess.run(['git', '-C', ROOT, 'status', '--porcelain', '--ignored=matching',
                              '--untracked-files=normal'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    return {line for line in res.stdout.splitlines() if '__pycache__' not in line}


def new_workspace(docs_data, path):
    """A fresh workspace: a copy of the generated files (blocks may write into ``data/``)."""
    shutil.copytree(docs_data, path, dirs_exist_ok=True, symlinks=True)
    return path
