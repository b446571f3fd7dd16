"""TSEG's optional dense-CRF post-processing (paper Table 3, "TSEG (CRF)"): one-line message without the package;
with ``pydensecrf2`` installed, the CRF pulls a noisy, misplaced mask boundary onto the image edge."""
import sys

import numpy as np
import pytest
import torch
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample


def test_missing_package_is_one_line_at_build_time(tiny_model_cfg, monkeypatch):
    from projects.tseg.tseg.models.crf import MissingCRFError
    monkeypatch.setitem(sys.modules, 'pydensecrf', None)          # import pydensecrf → ImportError
    monkeypatch.setitem(sys.modules, 'pydensecrf.densecrf', None)
    cfg = dict(tiny_model_cfg, test_cfg=dict(crf=True))
    with pytest.raises(MissingCRFError) as err:
        MODELS.build(cfg)
    msg = str(err.value)
    assert '\n' not in msg and 'pip install pydensecrf2' in msg and 'test_cfg.crf' in msg
    cfg = dict(tiny_model_cfg, test_cfg=dict(crf=None))           # off: no import at all
    assert MODELS.build(cfg).crf is None


def _edge_case():
    """A 48×64 image, dark left / bright right (edge at x = 32), and a noisy mask of the right part whose 0.5
    crossing is 8 px too far left (x = 24)."""
    rng = np.random.default_rng(0)
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, 32:] = 220
    image = np.clip(image.astype(np.int16) + rng.integers(-8, 9, image.shape), 0, 255).astype(np.uint8)
    x = np.arange(64, dtype=np.float32)
    ramp = 1 / (1 + np.exp(-(x - 24) / 3))                         # σ((x − 24)/3): 0.5 at x = 24
    mask = np.clip(np.tile(ramp, (48, 1)) * 0.8 + 0.1 + rng.normal(0, 0.15, (48, 64)), 0.01, 0.99)
    truth = np.zeros((48, 64), bool)
    truth[:, 32:] = True
    return image, mask.astype(np.float32), truth


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_crf_moves_a_noisy_mask_onto_the_image_edge():
    pytest.importorskip('pydensecrf.densecrf')
    from projects.tseg.tseg.models.crf import DenseCRF
    image, mask, truth = _edge_case()
    crf = DenseCRF()
    refined = crf.refine_masks(image, torch.from_numpy(mask)[None])[0].numpy()
    before, after = iou(mask > 0.5, truth), iou(refined > 0.5, truth)
    assert refined.shape == mask.shape and refined.min() >= 0 and refined.max() <= 1
    assert after > before + 0.1 and after > 0.95, (before, after)
    # noise inside the regions is cleaned up: fewer isolated flips than the raw mask
    assert ((refined > 0.5) != truth).sum() < ((mask > 0.5) != truth).sum() / 3
    # SPA's multi-label form also runs (background = 1 − Σ m)
    spa = crf.refine_masks(image, torch.from_numpy(mask)[None] * 0.9, multi_label=True)
    assert spa.shape == (1, 48, 64) and iou(spa[0].numpy() > 0.5, truth) > before


def test_tseg_predict_with_crf(tiny_model_cfg):
    pytest.importorskip('pydensecrf.densecrf')
    torch.manual_seed(0)
    model = MODELS.build(dict(tiny_model_cfg, test_cfg=dict(crf=dict(iterations=5)))).eval()
    plain = MODELS.build(tiny_model_cfg).eval()
    plain.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 60, 52)
    sample = lambda: [SegDataSample(metainfo=dict(expressions=['the red circle', 'the square'], img_shape=(60, 52),
                                                  ori_shape=(120, 104)))]
    out, ref = model.predict(x, sample())[0], plain.predict(x, sample())[0]
    assert out.seg_logits.data.shape == ref.seg_logits.data.shape == (2, 120, 104)
    assert torch.equal(out.pred_masks.data, out.seg_logits.data > 0.5)
    assert not torch.allclose(out.seg_logits.data, ref.seg_logits.data)      # the CRF changed the masks
