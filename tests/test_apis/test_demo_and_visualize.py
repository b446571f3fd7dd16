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
