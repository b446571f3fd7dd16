"""The benchmark scripts of issue 19 run: ``gpu_check.py`` skips in one line without CUDA and runs every section on
the CPU with ``--device cpu --tiny --smoke``; ``eval_throughput.py``'s rows and overhead ratios are computed."""
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH = osp.join(ROOT, 'benchmarks')


def run(*args, timeout=900):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, osp.join(BENCH, 'gpu_check.py'), *args], cwd='/', env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_gpu_check_without_cuda_says_so_in_one_line():
    r = run()
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('gpu_check: no CUDA device here'), r.stdout


@pytest.mark.slow
def test_gpu_check_smoke_runs_every_section_on_cpu():
    """~1-5 min on a loaded 2-core CPU (fp16 autocast is emulated there)."""
    r = run('--device', 'cpu', '--tiny', '--smoke')
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    for title in ('### Training step', '### Zero-shot inference', '### Data pipeline', '### Projected wall time'):
        assert title in out, out
    assert 'error:' not in out and 'skipped' not in out, out
    assert '| 2 | fp16 |' in out and '| 2 | bf16 |' in out
    assert out.count('| slide batched |') == 4                       # ± PAMR × fp32 / bf16
    assert '8-benchmark Table 1, fp32' in out and '50,000-iteration schedule' in out


def test_eval_throughput_rows_and_overheads(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    import torch
    import eval_throughput as et
    _, model = et.build('tiny', torch.device('cpu'), 5)
    rows, n_win = et.measure(model, torch.device('cpu'), 32, 1, 8, ['fp32'], pamr_rows=True, warmup=0, repeat=1,
                             clock='cpu')
    assert n_win == 2
    assert [(r['mode'], r['pamr']) for r in rows] == [(m, p) for m in ('whole', 'slide loop', 'slide batched')
                                                      for p in (False, True)]
    assert all(r['img_s'] > 0 and r['overhead'] > 0 for r in rows)
    assert model.test_cfg['mode'] == 'whole' and model.test_cfg['pamr'] is False        # restored
    table = et.format_table(rows, 1, markdown=True)
    assert table.splitlines()[0].startswith('| mode | PAMR | dtype | img/s') and len(table.splitlines()) == 8
