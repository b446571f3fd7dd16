"""Test-suite settings: CPU only, quiet logs, repository root importable for ``tools/``."""
import os
import sys

os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
