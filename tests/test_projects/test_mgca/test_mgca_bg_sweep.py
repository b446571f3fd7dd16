"""benchmarks/mgca_bg_sweep.py: one scoring pass, every background threshold applied to the same softmax scores."""
import importlib.util
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).parents[3]


def load_sweep():
    spec = importlib.util.spec_from_file_location('mgca_bg_sweep', ROOT / 'benchmarks' / 'mgca_bg_sweep.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_miou_per_threshold_by_hand():
    sweep = load_sweep()
    # one 1×4 image, K = 2 foreground classes; max softmax 0.9, 0.6, 0.55, 0.7 → classes 1, 2, 1, 2
    fg = np.array([[[0.9, 0.4, 0.55, 0.3]], [[0.1, 0.6, 0.45, 0.7]]], np.float32)
    gt = np.array([[1, 0, 1, 255]])                      # last pixel ignored
    res = sweep.miou_per_threshold([fg], [gt], [0.5, 0.58, 0.95], num_classes=3)
    # t = 0.5: pred 1, 2, 1 → bg IoU 0/1, class 1 IoU 2/2, class 2 IoU 0/1 → mean 33.33
    assert res[0.5][1] == pytest.approx([0.0, 100.0, 0.0])
    # t = 0.58: pred 1, 2, 0 → bg 0/2, class 1 1/2, class 2 0/1
    assert res[0.58][1] == pytest.approx([0.0, 50.0, 0.0]) and res[0.58][0] == pytest.approx(50 / 3)
    # t = 0.95: all background → bg 1/3, class 1 0/2, class 2 absent from gt and prediction (NaN, left out)
    assert res[0.95][1][:2] == pytest.approx([100 / 3, 0.0]) and np.isnan(res[0.95][1][2])
    assert res[0.95][0] == pytest.approx(50 / 3)
