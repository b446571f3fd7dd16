"""The segmentors honour mmseg's API conventions (`init_model`, `dataset_meta`) with a fixed vocabulary."""
import textwrap

import pytest

import mmseg_code  # noqa: F401
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

register_all_modules()

TINY = dict(
    type='TCL',
    clip=dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16'),
    decode_head=dict(type='ImageSegmenter', decoder=dict(type='GatedDecoder', n_layers=1, double=False),
                     sim2mask=dict(type='Sim2Mask')),
    vocabulary=['background', 'cat', 'dog'],
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    test_cfg=dict(mode='whole', pamr=False, kp_weight=0.0))


def test_fixed_vocabulary_wins_over_dataset_meta():
    model = MODELS.build(TINY)
    # what mmseg's inferencer does without a checkpoint meta: Cityscapes names and palette
    model.dataset_meta = dict(classes=('road', 'sidewalk'), palette=[[1, 1, 1], [2, 2, 2]])
    assert model.dataset_meta['classes'] == ('background', 'cat', 'dog')
    # a palette of other classes is replaced by the vocabulary's (mmseg's visualisers need one per class)
    from mmseg_code.apis.visualization import auto_palette
    assert model.dataset_meta['palette'] == [[0, 0, 0]] + auto_palette(['background', 'cat', 'dog'])[1:]
    # matching classes keep their palette
    model.dataset_meta = dict(classes=('background', 'cat', 'dog'), palette=[[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    assert model.dataset_meta['palette'] == [[0, 0, 0], [1, 0, 0], [0, 1, 0]]


def test_pretrained_key_of_init_model():
    with pytest.raises(ValueError, match='model.clip.pretrained'):
        MODELS.build(dict(TINY, pretrained='some.pth'))
    assert MODELS.build(dict(TINY, pretrained=None)).vocabulary.class_names == ['background', 'cat', 'dog']


def test_mmseg_init_model_without_cfg_options(tmp_path):
    from mmseg.apis import init_model
    cfg_file = tmp_path / 'tiny.py'
    cfg_file.write_text('model = ' + repr(TINY) + '\n' + textwrap.dedent('''
        test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
        default_scope = 'mmseg'
    '''))
    model = init_model(str(cfg_file), None, device='cpu')  # sets model.pretrained = None itself
    assert model.dataset_meta['classes'] == ('background', 'cat', 'dog')
    assert Config.fromfile(str(cfg_file)).model.type == 'TCL'
