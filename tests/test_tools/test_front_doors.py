"""Front doors (issue 14, items 6, 8, 9): the tools run from any directory, resolve README paths against the
repository, and end bad input with one line on stderr (exit status 2, no traceback) before building anything.

Every command runs in a temporary directory outside the repository, as a user who copied it from the README would.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(ROOT, 'tools')


def _env(**extra):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', **extra)
    env.pop('PYTHONPATH', None)  # only what the tool itself sets up (the checkout it lives in)
    env.pop('MMSEG_CODE_DEBUG', None)
    return env


def _run(args, cwd, timeout=120, **env):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def _one_error_line(proc, prog, message):
    """Exit status 2 and the last stderr line is ``<prog>: error: <message>``, with no traceback."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f'{prog}: error: ') and message in last, proc.stderr[-3000:]
    return last


@pytest.fixture
def images(tmp_path):
    d = tmp_path / 'imgs'
    d.mkdir()
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :32] = (255, 0, 0)
    img[:, 32:] = (0, 255, 0)
    Image.fromarray(img).save(d / 'good.png')
    Image.fromarray((np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)).save(d / 'photo.jpg')
    data = (d / 'photo.jpg').read_bytes()
    (d / 'truncated.jpg').write_bytes(data[:len(data) * 2 // 3])
    (d / 'empty.jpg').write_bytes(b'')
    (d / 'garbage.jpg').write_bytes(b'GIF89a but not really' * 10)
    return d


def test_demo_bad_images_one_line_each(tmp_path, images):
    demo = osp.join(TOOLS, 'demo.py')
    cases = [('empty.jpg', f'cannot decode image: {images}/empty.jpg (empty file)'),
             ('garbage.jpg', f'cannot decode image: {images}/garbage.jpg (not an image file)'),
             ('truncated.jpg', f'cannot decode image: {images}/truncated.jpg (image file is truncated'),
             ('missing.jpg', f'image not found: {images}/missing.jpg')]
    for name, message in cases:
        proc = _run([demo, str(images / name), '--vocab', 'cat, dog'], cwd=tmp_path)
        assert proc.stderr.count('\n') == 1, proc.stderr[-2000:]
        _one_error_line(proc, 'demo.py', message)
    # --debug (or MMSEG_CODE_DEBUG=1) shows where it came from
    proc = _run([demo, str(images / 'empty.jpg'), '--vocab', 'cat', '--debug'], cwd=tmp_path)
    assert proc.returncode == 1 and 'Traceback' in proc.stderr and 'UserError: cannot decode image' in proc.stderr


def test_demo_checks_before_importing_torch(tmp_path, images):
    """Bad input fails before torch / mmseg are imported (about a second, not 8-15 s of model building)."""
    code = ('import json, runpy, sys\n'
            f'g = runpy.run_path({osp.join(TOOLS, "demo.py")!r})\n'
            'rcs = [g["tool"].run_tool(g["main"], [p, "--vocab", "cat"]) for p in sys.argv[1:]]\n'
            'print(json.dumps([rcs, sorted(m for m in ("torch", "mmseg", "mmcv") if m in sys.modules)]))\n')
    proc = _run(['-c', code, str(images / 'empty.jpg'), str(images / 'missing.jpg')], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rcs, heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rcs == [2, 2] and heavy == []


def test_demo_defaults_resolve_against_the_repository(tmp_path, monkeypatch, images):
    import runpy
    monkeypatch.chdir(tmp_path)
    demo = runpy.run_path(osp.join(TOOLS, 'demo.py'))
    args = demo['parse_args']([str(images / 'good.png'), '--vocab', 'configs/vocab/voc21.txt'])
    image = demo['check_args'](args)
    assert args.config == osp.join(ROOT, 'configs/code/code_vitb16_cc.py')
    assert args.vocab == osp.join(ROOT, 'configs/vocab/voc21.txt') and image.shape == (48, 64, 3)
    args = demo['parse_args']([str(images / 'good.png'), '--expr', 'the red square'])
    demo['check_args'](args)
    assert args.config == osp.join(ROOT, 'projects/tseg/configs/tseg_vits16-bert-small_4xb8-120k_phrasecut-384x384.py')


def test_demo_projects_config_and_load_strict_from_any_directory(tmp_path, images):
    """An MGCA (projects/) config, given as in the README, from outside the repository; a checkpoint whose keys do
    not match fails with one line that names --cfg-options load_strict=False, which the demo then accepts."""
    import torch
    ckpt = tmp_path / 'mismatch.pth'
    torch.save({'state_dict': {'not_in_the_model.weight': torch.zeros(2)}}, ckpt)
    demo = osp.join(TOOLS, 'demo.py')
    base = [demo, str(images / 'good.png'), '--vocab', 'cat, dog', '--config', 'projects/mgca/configs/mgca_tiny.py',
            '--checkpoint', str(ckpt)]
    proc = _run(base + ['--out', 'strict.png'], cwd=tmp_path, timeout=600)
    _one_error_line(proc, 'demo.py', 'load anyway with --cfg-options load_strict=False')
    proc = _run(base + ['--out', 'loose.png', '--cfg-options', 'load_strict=False'], cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert Image.open(tmp_path / 'loose.png').size[1] == 48 and (tmp_path / 'loose_pred.png').is_file()


def test_train_misspelt_option_one_line_before_the_run(tmp_path):
    work = tmp_path / 'work'
    proc = _run([osp.join(TOOLS, 'train.py'), 'configs/code/code_tiny.py', '--work-dir', str(work),
                 '--cfg-options', 'train_dataloader.batch_sze=2'], cwd=tmp_path, timeout=600)
    _one_error_line(proc, 'train.py', "--cfg-options train_dataloader.batch_sze: train_dataloader (a DataLoader) has "
                                      "no key 'batch_sze'; did you mean 'batch_size'")
    assert 'paramwise_options' not in proc.stdout + proc.stderr
    assert not list(work.glob('*/*.log'))  # no run was started
    proc = _run([osp.join(TOOLS, 'train.py'), 'configs/code/code_tiny.py', '--work-dir', str(work),
                 '--cfg-options', 'train_dataloader.batch_size=two'], cwd=tmp_path, timeout=600)
    _one_error_line(proc, 'train.py', "train_dataloader.batch_size='two': expects a number (now 4), got a string")


def test_train_amp_on_cpu_is_refused_in_one_line(tmp_path):
    """The README's paper command trains fp16 with --amp (the official code always does); on a machine without a
    GPU, MMEngine's AmpOptimWrapper would assert deep inside the runner: the tool stops first, with one line."""
    work = tmp_path / 'work'
    proc = _run([osp.join(TOOLS, 'train.py'), 'configs/code/code_tiny.py', '--work-dir', str(work), '--amp'],
                cwd=tmp_path, timeout=600)
    _one_error_line(proc, 'train.py', '--amp needs a GPU')
    assert 'train on CPU without --amp' in proc.stderr
    assert not list(work.glob('*/*.log'))  # no run was started


def test_train_unwritable_work_dir(tmp_path):
    (tmp_path / 'a_file').write_text('')
    proc = _run([osp.join(TOOLS, 'train.py'), 'configs/code/code_tiny.py', '--work-dir', 'a_file/run'],
                cwd=tmp_path)
    _one_error_line(proc, 'train.py', 'cannot create --work-dir a_file/run: Not a directory')


def test_test_tool_readme_command_from_elsewhere(tmp_path):
    # the config of the README resolves against the repository: what fails is the missing checkpoint
    proc = _run([osp.join(TOOLS, 'test.py'), 'configs/code/zeroshot/code_vitb16_voc21.py', 'code.pth'], cwd=tmp_path)
    _one_error_line(proc, 'test.py', f'checkpoint not found: code.pth (looked in {tmp_path} or {ROOT})')
    proc = _run([osp.join(TOOLS, 'test.py'), 'configs/code/zeroshot/code_vitb16_voc12.py', 'none'], cwd=tmp_path)
    _one_error_line(proc, 'test.py', 'config not found: configs/code/zeroshot/code_vitb16_voc12.py')


def test_dist_scripts_check_once_from_elsewhere(tmp_path):
    env = _env(PYTHON=sys.executable)
    run = lambda *a: subprocess.run(['bash', *a], cwd=tmp_path, env=env, capture_output=True, text=True,  # noqa
                                    timeout=120)
    proc = run(osp.join(TOOLS, 'dist_train.sh'), 'configs/code/nope.py', '2')
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f'train.py: error: config not found: configs/code/nope.py (looked in {tmp_path}/configs/code or '
        f'{ROOT}/configs/code)']
    proc = run(osp.join(TOOLS, 'dist_test.sh'), 'configs/code/zeroshot/code_vitb16_voc21.py', 'code.pth', '2')
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f'test.py: error: checkpoint not found: code.pth (looked in {tmp_path} or {ROOT})']
    proc = run(osp.join(TOOLS, 'dist_train.sh'), 'configs/code/code_tiny.py')
    assert proc.returncode == 2 and proc.stderr.startswith('usage: bash tools/dist_train.sh CONFIG NUM_PROCESSES')


def test_other_tools_bad_paths(tmp_path, images):
    proc = _run([osp.join(TOOLS, 'visualize_code.py'), 'configs/code/code_tiny.py', 'none', str(images / 'empty.jpg'),
                 '--caption', 'a dog'], cwd=tmp_path)
    _one_error_line(proc, 'visualize_code.py', f'cannot decode image: {images}/empty.jpg (empty file)')
    proc = _run([osp.join(ROOT, 'projects/tseg/demo/tseg_demo.py'), str(images / 'garbage.jpg'), '--expr', 'x'],
                cwd=tmp_path)
    _one_error_line(proc, 'tseg_demo.py', f'cannot decode image: {images}/garbage.jpg (not an image file)')
    proc = _run([osp.join(TOOLS, 'benchmark.py'), 'configs/code/code_tiny.py', 'none', '--benchmarks', 'voc12'],
                cwd=tmp_path)
    _one_error_line(proc, 'benchmark.py', "unknown benchmark 'voc12'; did you mean 'voc21'?")
    proc = _run([osp.join(TOOLS, 'quickstart.py'), '--clip', 'nope.pth'], cwd=tmp_path)
    _one_error_line(proc, 'quickstart.py', '--clip checkpoint not found: nope.pth')
