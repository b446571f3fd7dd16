"""Test-suite settings: CPU only, one thread per process, repository root importable for ``tools/``.

Many tests start 2-process (gloo) runs or CLI subprocesses; with torch's default of one thread per core
those oversubscribe a small machine badly (a tiny CoDe step was measured ~50x slower with 2 threads per
process under load), so every test process and its children use one thread.
"""
import os
import sys

os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MKL_NUM_THREADS', '1')

import torch  # noqa: E402

torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
