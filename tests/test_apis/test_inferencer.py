"""Open-vocabulary inference: custom vocabularies (with / without background), cached class embeddings, overlays
with a legend, and mmseg's own MMSegInferencer / inference_model on a plugin model."""
import copy

import numpy as np
import pytest
import torch
from evalkit import COLOURS, TINY_MODEL, install_hand_made_scores, write_model_config
from PIL import Image

import mmseg_code  # noqa: F401
from mmseg_code.apis import OVSegInferencer, auto_palette, init_segmentor

SMALL_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(96, 32), keep_ratio=True),
                  dict(type='PackSegInputs')]


def tiny_cfg(**test_cfg):
    model = copy.deepcopy(TINY_MODEL)
    model['test_cfg'].update(test_cfg)
    return dict(model=model, default_scope='mmseg', test_dataloader=dict(dataset=dict(pipeline=SMALL_PIPELINE)))


def solid(colour, h=32, w=48):
    return np.full((h, w, 3), COLOURS[colour][::-1], np.uint8)      # BGR, as mmcv loads images


def test_auto_palette():
    pal = auto_palette(['background', 'cat', 'dog', 'grass'])
    assert pal[0] == [0, 0, 0]
    assert len({tuple(c) for c in pal}) == 4 and all(0 <= v <= 255 for c in pal for v in c)


def test_class_embeddings_computed_once_per_vocabulary():
    torch.manual_seed(0)
    inf = OVSegInferencer(tiny_cfg(kp_weight=0.3), vocabulary='cat, dog, grass', device='cpu')
    te = inf.model.clip.text_encoder
    calls = []
    orig = te.encode

    def counting(ids):
        calls.append(ids.shape[0])
        return orig(ids)

    te.encode = counting
    imgs = [solid('red'), solid('green'), solid('blue')]
    for img in imgs:
        inf(img)
    inf(imgs)                                            # and a list in one call
    # 3 names × TCL's 9 prompt templates, encoded in one chunk, once (the KP branch reuses the same ensemble)
    assert calls == [27]
    inf.set_vocabulary('cat, dog, grass')                # same vocabulary: still cached
    inf(imgs[0])
    assert calls == [27]
    inf.set_vocabulary('sky; tree, bush')                # new vocabulary: encoded once more (3 synonyms × 9)
    inf(imgs[0])
    inf(imgs[1])
    assert calls == [27, 27]


def test_custom_vocabulary_with_and_without_background(tmp_path, monkeypatch):
    install_hand_made_scores(monkeypatch)                # red → class 1 scores 0.45, green → class 2 scores 0.7
    inf = OVSegInferencer(tiny_cfg(pamr=True), vocabulary='cat, dog, grass', background=True, device='cpu')
    assert inf.classes == ['background', 'cat', 'dog', 'grass']
    res = inf([solid('red'), solid('green'), solid('blue')], out_dir=str(tmp_path / 'out'))
    red, green, blue = res['predictions']
    # PAMR on → bg plane 0.4: red (cat 0.45) → cat = 1, green (dog 0.7) → dog = 2,
    # blue (all 0.076) → background 0
    assert red.shape == (32, 48)
    assert (red == 1).all() and (green == 2).all() and (blue == 0).all()
    vis = sorted((tmp_path / 'out' / 'vis').iterdir())
    preds = sorted((tmp_path / 'out' / 'pred').iterdir())
    assert len(vis) == 3 and len(preds) == 3
    drawn = np.array(Image.open(vis[0]))
    assert drawn.shape[0] == 32 and drawn.shape[1] > 48                  # overlay + legend panel
    assert np.array_equal(np.array(Image.open(preds[0])), red)

    inf.set_vocabulary('cat, dog, grass', background=False)
    assert inf.classes == ['cat', 'dog', 'grass']
    red, green = inf([solid('red'), solid('green')])['predictions']
    assert (red == 0).all() and (green == 1).all()                      # no background: plain argmax

    inf.set_vocabulary(['background', 'cat'])                           # 'auto': a first "background" is the bg
    assert inf.classes == ['background', 'cat']
    # without PAMR the threshold is 0.5: red's 0.45 is background now
    inf2 = OVSegInferencer(tiny_cfg(pamr=False), vocabulary='cat, dog', background=True, device='cpu')
    assert (inf2(solid('red'))['predictions'] == 0).all()


def test_mmseg_inferencer_and_inference_model_on_plugin_config(tmp_path):
    from mmseg.apis import MMSegInferencer, inference_model
    torch.manual_seed(0)
    model = copy.deepcopy(TINY_MODEL)
    model['vocabulary'] = ['background', 'cat', 'dog']
    cfg_path = write_model_config(
        tmp_path / 'plugin.py', model,
        extra=f'test_pipeline = {SMALL_PIPELINE!r}\n'
              'test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n'
              "visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')], "
              "name='visualizer')\n")
    seg = init_segmentor(cfg_path, device='cpu')
    ckpt = tmp_path / 'w.pth'
    torch.save(seg.state_dict(), ckpt)                                   # a bare state dict, no meta

    inf = MMSegInferencer(model=cfg_path, weights=str(ckpt), device='cpu')
    pred = inf(solid('red'))['predictions']
    assert pred.shape == (32, 48) and pred.max() < 3                     # the config's 3-class vocabulary is kept

    seg2 = init_segmentor(cfg_path, str(ckpt), device='cpu')
    for k, v in seg.state_dict().items():
        assert torch.equal(v, seg2.state_dict()[k]), k
    img = tmp_path / 'x.jpg'
    Image.fromarray(solid('red')[..., ::-1]).save(img)
    out = inference_model(seg2, str(img))
    assert out.pred_sem_seg.data.shape == (1, 32, 48)
    assert seg2.dataset_meta['classes'] == ('background', 'cat', 'dog')          # a tuple, as mmseg's METAINFO


def test_vocabulary_from_checkpoint_meta_when_none_given(tmp_path):
    torch.manual_seed(0)
    seg = init_segmentor(tiny_cfg(), vocabulary='a, b', device='cpu')
    ckpt = tmp_path / 'm.pth'
    torch.save({'state_dict': seg.state_dict(), 'meta': {'dataset_meta': {'classes': ['background', 'sky', 'sea']}}},
               ckpt)
    inf = OVSegInferencer(tiny_cfg(), weights=str(ckpt), device='cpu')
    assert inf.classes == ['background', 'sky', 'sea']
    with pytest.raises(ValueError, match='No vocabulary'):
        OVSegInferencer(tiny_cfg(), device='cpu')


def _stock_config(tmp_path, vocabulary):
    """A plugin config with ``model.vocabulary`` and mmseg's stock visualiser (``SegLocalVisualizer``)."""
    model = copy.deepcopy(TINY_MODEL)
    model['vocabulary'] = vocabulary
    return write_model_config(
        tmp_path / 'stock.py', model,
        extra=f'test_pipeline = {SMALL_PIPELINE!r}\n'
              'test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n'
              "visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')], "
              "name='visualizer')\n")


def test_stock_mmseg_apis_draw_a_config_vocabulary(tmp_path):
    """mmseg's MMSegInferencer(out_dir=...), init_model / inference_model / show_result_pyplot on a config with
    ``model.vocabulary = 'cat, dog, grass'`` (failed: "The length of classes should be equal to palette",
    KeyError 'palette')."""
    from mmseg.apis import MMSegInferencer, inference_model, init_model, show_result_pyplot
    torch.manual_seed(0)
    cfg_path = _stock_config(tmp_path, 'cat, dog, grass')
    img = tmp_path / 'photo.jpg'
    Image.fromarray(solid('red')[..., ::-1]).save(img)
    expected = [list(c) for c in auto_palette(['cat', 'dog', 'grass'])]      # a free vocabulary: generated colours

    inf = MMSegInferencer(model=cfg_path, device='cpu')                     # no weights: random masker
    res = inf(str(img), out_dir=str(tmp_path / 'out'))
    assert res['predictions'].shape == (32, 48)
    drawn = np.array(Image.open(tmp_path / 'out' / 'vis' / 'photo.jpg'))
    assert drawn.shape[:2] == (32, 48)
    meta = inf.model.dataset_meta
    assert meta['classes'] == ('cat', 'dog', 'grass') and meta['palette'] == expected

    model = init_model(cfg_path, device='cpu')
    assert model.dataset_meta == dict(classes=('cat', 'dog', 'grass'), palette=expected)
    result = inference_model(model, str(img))
    out = tmp_path / 'pyplot.png'
    vis = show_result_pyplot(model, str(img), result, show=False, out_file=str(out), with_labels=False)
    assert out.exists() and vis.shape == (32, 48, 3)
    # the prediction's pixels are painted with the palette: opacity 0.5 over the red image, as mmseg blends
    label = int(result.pred_sem_seg.data[0, 16, 24])
    expect = (0.5 * np.array([255, 0, 0]) + 0.5 * np.array(expected[label])).astype(np.uint8)
    assert np.abs(vis[16, 24].astype(int) - expect.astype(int)).max() <= 2


@pytest.mark.parametrize('bench,dataset', [('voc21', 'PascalVOCDataset'), ('ade20k', 'ADE20KDataset'),
                                           ('voc20', 'PascalVOC20Dataset'), ('context60', 'PascalContextDataset')])
def test_benchmark_vocabulary_keeps_the_dataset_palette(bench, dataset):
    """A benchmark's class list gets its dataset's colours (the vocab files hold mmseg's names; ADE's 'bed ' is
    'bed' there)."""
    import os.path as osp
    from mmseg.registry import DATASETS
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    seg = init_segmentor(tiny_cfg(), vocabulary=osp.join(root, 'configs', 'vocab', f'{bench}.txt'), device='cpu')
    assert seg.dataset_meta['palette'] == [list(c) for c in DATASETS.get(dataset).METAINFO['palette']]


def test_outputs_named_after_the_inputs_and_odd_arrays(tmp_path):
    """Label maps and overlays are named after the input file's stem (arrays: their index in the call), not a counter
    running across calls; a 1×1 image and a 2-D (grey) array are segmented and drawn (IndexError before)."""
    torch.manual_seed(0)
    inf = OVSegInferencer(tiny_cfg(), vocabulary='cat, dog', background=True, device='cpu')
    paths = []
    for name, colour in (('first', 'red'), ('second', 'green')):
        paths.append(str(tmp_path / f'{name}.jpg'))
        Image.fromarray(solid(colour)[..., ::-1]).save(paths[-1])
    out = tmp_path / 'out'
    res = inf(paths, out_dir=str(out))
    for name, pred in zip(('first', 'second'), res['predictions']):
        assert np.array_equal(np.array(Image.open(out / 'pred' / f'{name}.png')), pred)
        assert Image.open(out / 'vis' / f'{name}.png').size[1] == 32
    grey = np.full((20, 30), 128, np.uint8)
    tiny = np.full((1, 1, 3), 200, np.uint8)
    for _ in range(2):                                    # a second call reuses the per-call names
        res = inf([grey, tiny], out_dir=str(out))
        assert res['predictions'][0].shape == (20, 30) and res['predictions'][1].shape == (1, 1)
    assert sorted(p.name for p in (out / 'pred').iterdir()) == ['00000000.png', '00000001.png', 'first.png',
                                                              'second.png']
    assert np.array_equal(np.array(Image.open(out / 'pred' / '00000001.png')), res['predictions'][1])
    drawn = np.array(Image.open(out / 'vis' / '00000000.png'))
    assert drawn.shape[0] == 20 and drawn.shape[1] > 30                   # overlay + legend
    res = inf(grey, return_vis=True)                      # drawn without writing
    assert res['visualization'].shape[0] == 20 and res['visualization'].shape[2] == 3


def test_background_applies_to_the_config_vocabulary():
    """``background=True/False`` without ``vocabulary=`` re-reads the config's classes with/without the background
    channel (it used to be ignored); 'auto' keeps the config's choice."""
    cfg = tiny_cfg()
    cfg['model']['vocabulary'] = 'cat, dog, grass'
    assert OVSegInferencer(cfg, device='cpu').classes == ['cat', 'dog', 'grass']
    assert OVSegInferencer(cfg, background=True, device='cpu').classes == ['background', 'cat', 'dog', 'grass']
    cfg['model']['vocabulary'] = ['background', 'cat', 'dog']
    assert OVSegInferencer(cfg, device='cpu').classes == ['background', 'cat', 'dog']
    inf = OVSegInferencer(cfg, background=False, device='cpu')
    assert inf.classes == ['cat', 'dog']
    pred = inf(solid('red'))['predictions']
    assert pred.shape == (32, 48) and pred.max() <= 1                  # two output channels, no background plane
