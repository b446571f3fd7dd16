"""tools/demo.py (free-text vocabulary from the shell) and tools/visualize_code.py (CoDe region / word masks)."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

import mmseg_code  # noqa: F401
from tools import demo, visualize_code

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture
def image(tmp_path):
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :32] = (255, 0, 0)
    img[:, 32:] = (0, 255, 0)
    path = tmp_path / 'img.png'
    Image.fromarray(img).save(path)
    return str(path)


def test_demo_cli(tmp_path, image, capsys):
    torch.manual_seed(0)
    out = tmp_path / 'demo.png'
    assert demo.main([image, '--vocab', 'cat, dog; grass', '--config', osp.join(ROOT, 'configs/code/code_tiny.py'),
                      '--out', str(out)]) == 0
    drawn = np.array(Image.open(out))
    pred = np.array(Image.open(tmp_path / 'demo_pred.png'))
    assert pred.shape == (48, 64) and pred.max() <= 2               # background, cat (cat|dog synonyms), grass
    assert drawn.shape[0] == 48 and drawn.shape[1] > 2 * 64          # image | overlay | legend
    printed = capsys.readouterr().out
    assert '%' in printed and 'demo_pred.png' in printed


def test_visualize_code_masks(tmp_path, image):
    torch.manual_seed(0)
    model = visualize_code.load_model(osp.join(ROOT, 'configs/code/code_tiny.py'), 'none')
    import mmcv
    caption = 'a red square next to a green circle'
    res = visualize_code.code_masks(model, mmcv.imread(image), caption, ['square', 'circle'], size=32)
    assert res['region'].shape == (2, 32, 43)                          # short side 32: 48×64 → 32×43
    assert res['tokens'] == ['a', 'red', 'square', 'next', 'to', 'a', 'green', 'circle']
    words = res['words']
    assert words.shape == (2, 8) and (words >= 0).all()
    # Eq. 3: softmax over [0, ℓ_1, ℓ_2] → Σ_j m_j = 1 − 1/(1 + Σ_j e^{ℓ_j}) < 1 per token
    assert (words.sum(0) < 1).all()
    # region masks: σ(w·cos + b) in [0, 1], at w=10, b=−2.5 bounded by σ(±10 − 2.5)
    lo, hi = 1 / (1 + math.exp(12.5)), 1 / (1 + math.exp(-7.5))
    assert res['region'].min() >= lo - 1e-6 and res['region'].max() <= hi + 1e-6
    out = visualize_code.render(res, str(tmp_path / 'fig.png'), title=caption)
    assert Image.open(out).size[0] > 0


def test_visualize_code_cli_on_tcl(tmp_path, image, capsys):
    torch.manual_seed(0)
    out = tmp_path / 'tcl.png'
    assert visualize_code.main([osp.join(ROOT, 'configs/tcl/tcl_tiny.py'), 'none', image, '--caption',
                                'a red square', '--nouns', 'square', '--size', '32', '--out', str(out)]) == 0
    assert out.exists() and 'region masks only' in capsys.readouterr().out


def test_visualize_code_region_overlay_uses_the_renderer():
    """The nouns' argmax overlay: each pixel in its noun's colour (none ≤ 0.5), a legend of the nouns present."""
    from mmseg_code.apis.visualization import auto_palette
    region = np.zeros((2, 10, 20), np.float32)
    region[0, :, :8] = 0.9                      # 'square' on the left
    region[1, :, 12:] = 0.7                     # 'circle' on the right; the middle: none (both 0)
    res = dict(image=np.full((10, 20, 3), 100, np.uint8), region=region, nouns=['square', 'circle'])
    drawn, classes, palette = visualize_code.region_overlay(res)
    sq, ci = auto_palette(['square', 'circle'])
    assert classes == ['none', 'square', 'circle'] and palette == [[0, 0, 0], sq, ci]
    assert np.array_equal(drawn[5, 2], np.round(50 + 0.5 * np.array(sq)).astype(np.uint8))
    assert np.array_equal(drawn[5, 15], np.round(50 + 0.5 * np.array(ci)).astype(np.uint8))
    assert np.array_equal(drawn[5, 10], [50, 50, 50])                     # none: black at 0.5
    legend = drawn[:, 22:]
    assert all((legend == c).all(axis=2).any() for c in (sq, ci))
