"""API tests share the evaluation tests' helpers (``tests/test_evaluation/evalkit.py``)."""
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'test_evaluation'))
