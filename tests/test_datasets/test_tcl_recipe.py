"""Issue 17 item 4: TCL's own training augmentation (timm create_transform with RandAugment and RandomErasing) as the
pipeline of configs/tcl/tcl_vitb16_cc.py; the crop + flip pipeline stays as configs/tcl/tcl_vitb16_cc_code_pipeline.py.
"""
import os.path as osp
import random

import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmseg_code  # noqa: F401
from mmseg_code.datasets.transforms.timm_augment import TimmRandAugment, TimmRandomErasing

timm_data = pytest.importorskip('timm.data')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# TCL (kakaobrain/tcl datasets/builder.py): create_transform(224, is_training=True, color_jitter=0.4,
# auto_augment='rand-m9-mstd0.5-inc1', re_prob=0.25, re_mode='pixel', re_count=1)
RECIPE = dict(input_size=224, is_training=True, color_jitter=0.4, auto_augment='rand-m9-mstd0.5-inc1', re_prob=0.25,
              re_mode='pixel', re_count=1, interpolation='bilinear')
AUG = ['RandomResizedCrop', 'RandomFlip', 'TimmRandAugment', 'TimmRandomErasing']
TEXT = ['CleanCaption', 'SelectNouns', 'TokenizeCaptionWithNouns', 'PackImageTextInputs']


def _pipeline(name):
    return Config.fromfile(osp.join(ROOT, 'configs/tcl', name)).train_dataloader.dataset.pipeline


def test_timm_recipe_is_crop_flip_randaugment_normalise_erase():
    """What timm builds from TCL's arguments: no colour jitter (disabled under RandAugment)."""
    t = timm_data.create_transform(**RECIPE).transforms
    assert [type(x).__name__ for x in t] == ['RandomResizedCropAndInterpolation', 'RandomHorizontalFlip',
                                             'RandAugment', 'MaybeToTensor' if 'MaybeToTensor' in
                                             type(t[3]).__name__ else 'ToTensor', 'Normalize', 'RandomErasing']
    assert t[0].scale == (0.08, 1.0) and t[0].ratio == pytest.approx((3 / 4, 4 / 3))
    assert t[1].p == 0.5
    assert t[5].probability == 0.25 and t[5].mode == 'pixel' and t[5].max_count == 1
    assert tuple(t[4].mean) == pytest.approx((0.485, 0.456, 0.406))


def test_tcl_config_pipeline_is_the_recipe():
    p = _pipeline('tcl_vitb16_cc.py')
    assert [t['type'] for t in p] == ['DecodeImageBytes'] + AUG + TEXT
    crop, flip, ra, re = p[1:5]
    assert crop['size'] == 224 and tuple(crop['scale']) == (0.08, 1.0)
    assert tuple(crop['ratio']) == pytest.approx((3 / 4, 4 / 3))
    assert flip['prob'] == 0.5 and flip['direction'] == 'horizontal'
    assert ra['config_str'] == RECIPE['auto_augment'] and ra['img_size'] == 224
    assert (re['prob'], re['mode'], re['max_count']) == (RECIPE['re_prob'], RECIPE['re_mode'], RECIPE['re_count'])
    model = Config.fromfile(osp.join(ROOT, 'configs/tcl/tcl_vitb16_cc.py')).model
    assert model.data_preprocessor.mean == [123.675, 116.28, 103.53]  # ImageNet, as timm's Normalize
    assert model.data_preprocessor.std == [58.395, 57.12, 57.375]
    option = _pipeline('tcl_vitb16_cc_code_pipeline.py')
    assert [t['type'] for t in option] == ['DecodeImageBytes', 'RandomResizedCrop', 'RandomFlip'] + TEXT


def test_randaugment_runs_timms_operator_on_the_rgb_picture():
    from PIL import Image
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    ours = TimmRandAugment('rand-m9-mstd0.5-inc1', img_size=224)
    assert ours.hparams['translate_const'] == 100 and ours.hparams['img_mean'] == (124, 116, 104)
    ref = timm_data.create_transform(**RECIPE).transforms[2]
    for seed in range(5):
        random.seed(seed), np.random.seed(seed)
        got = ours(dict(img=bgr.copy()))['img']
        random.seed(seed), np.random.seed(seed)
        want = np.asarray(ref(Image.fromarray(np.ascontiguousarray(bgr[..., ::-1]))))[..., ::-1]
        assert got.dtype == np.uint8 and np.array_equal(got, want), seed


def test_random_erasing_matches_timm_after_normalisation():
    mean = np.array([123.675, 116.28, 103.53], np.float32)  # RGB, the data preprocessor's
    std = np.array([58.395, 57.12, 57.375], np.float32)
    bgr = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ours = TimmRandomErasing(prob=1.0, mode='pixel', max_count=1)
    from timm.data.random_erasing import RandomErasing
    ref = RandomErasing(probability=1.0, mode='pixel', max_count=1, device='cpu')
    random.seed(3), torch.manual_seed(3)
    got = ours(dict(img=bgr.copy()))['img']
    assert got.dtype == np.float32
    got_norm = (got[..., ::-1] - mean) / std                      # what SegDataPreProcessor hands the network (RGB)
    x = torch.from_numpy(((bgr[..., ::-1].astype(np.float32) - mean) / std).transpose(2, 0, 1).copy())
    random.seed(3), torch.manual_seed(3)
    want = ref(x).numpy().transpose(1, 2, 0)
    erased = np.any(want != ((bgr[..., ::-1].astype(np.float32) - mean) / std), axis=-1)
    assert 0 < erased.mean() < 1
    # same box; erased values are N(0, 1) draws (channel order aside), untouched pixels identical
    assert np.array_equal(erased, np.any(np.abs(got_norm - (bgr[..., ::-1] - mean) / std) > 1e-4, axis=-1))
    np.testing.assert_allclose(got_norm[~erased], want[~erased], atol=1e-4)
    np.testing.assert_allclose(np.sort(got_norm[erased].ravel()), np.sort(want[erased].ravel()), atol=1e-4)


def test_tcl_pipeline_runs_on_a_sample():
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope

    from mmseg_code.datasets.synthetic_shapes import ShapesConfig, encode_jpeg, generate_sample
    init_default_scope('mmseg')
    img, _, caption, _ = generate_sample(ShapesConfig(image_size=96), 0, 0)
    p = [dict(t) for t in _pipeline('tcl_vitb16_cc.py')]
    for t in p:
        if t['type'] == 'TimmRandomErasing':
            t['prob'] = 1.0
    pipe = Compose(p)
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    out = pipe(dict(img_bytes=encode_jpeg(img), caption=caption, key='k'))
    assert tuple(out['inputs'].shape) == (3, 224, 224) and out['inputs'].dtype == torch.float32
    assert out['data_samples'].text_ids.shape[-1] == 77
