"""Referring annotations: refer-style RefCOCO, PhraseCut, RLE and polygons, the project JSON, transforms, metric,
and the generated shapes benchmark — on tiny hand-made files with hand-computed expectations."""
import json
import os.path as osp
import pathlib
import pickle

import numpy as np
import pytest

from projects.tseg.tseg.datasets import (LoadReferMasks, SampleReferExpressions, SwapLeftRightWords,
                                         decode_segmentation, load_phrasecut, load_refcoco, referring_expressions,
                                         rle_decode, rle_encode)
from projects.tseg.tseg.evaluation import ReferSegMetric


def _refer_root(tmp_path):
    base = tmp_path / 'refcoco'
    base.mkdir()
    inst = dict(images=[dict(id=1, file_name='COCO_train2014_000000000001.jpg', height=4, width=5),
                        dict(id=2, file_name='COCO_train2014_000000000002.jpg', height=3, width=3)],
                annotations=[dict(id=10, image_id=1, bbox=[1, 1, 2, 2], segmentation=[[1, 1, 3, 1, 3, 3, 1, 3]]),
                             # uncompressed RLE, column-major 3×3: 2 zeros, 3 ones, 4 zeros
                             dict(id=20, image_id=2, bbox=[0, 0, 2, 2],
                                  segmentation=dict(size=[3, 3], counts=[2, 3, 4]))])
    (base / 'instances.json').write_text(json.dumps(inst))
    refs = [dict(ref_id=0, ann_id=10, image_id=1, split='val', category_id=1,
                 sentences=[dict(sent='left man', raw='Left man', tokens=['left', 'man']),
                            dict(sent='guy in red', raw='guy in red', tokens=['guy', 'in', 'red'])]),
            dict(ref_id=1, ann_id=20, image_id=2, split='val', category_id=2, sentences=[dict(sent='the dog')]),
            dict(ref_id=2, ann_id=20, image_id=2, split='train', category_id=2, sentences=[dict(sent='a dog')])]
    with open(base / 'refs(unc).p', 'wb') as f:
        pickle.dump(refs, f)
    return tmp_path


def test_rle_decode_column_major_and_roundtrip():
    m = rle_decode(dict(size=[3, 3], counts=[2, 3, 4]))
    # flat column-major indices 2,3,4 → (row 2, col 0), (0, 1), (1, 1)
    want = np.zeros((3, 3), bool)
    want[2, 0] = want[0, 1] = want[1, 1] = True
    assert (m == want).all()
    assert rle_encode(want) == dict(size=[3, 3], counts=[2, 3, 4])


def test_polygon_rasterised():
    m = decode_segmentation({'polygons': [[1, 1, 3, 1, 3, 3, 1, 3]]}, 4, 5)
    assert m.sum() == 9 and m[1:4, 1:4].all()


def test_load_refcoco_refer_layout(tmp_path):
    root = _refer_root(tmp_path)
    recs = load_refcoco(str(root), 'refcoco', 'val')
    assert [r['image_id'] for r in recs] == [1, 2]
    assert recs[0]['refs'][0]['sentences'] == ['left man', 'guy in red']
    assert recs[1]['refs'][0]['segmentation'] == {'rle': dict(size=[3, 3], counts=[2, 3, 4])}
    assert [r['image_id'] for r in load_refcoco(str(root), 'refcoco', 'train')] == [2]


def test_refcoco_dataset_and_masks(tmp_path):
    from mmseg.registry import DATASETS
    root = _refer_root(tmp_path)
    ds = DATASETS.build(dict(type='RefCOCOSegDataset', data_root=str(root), dataset='refcoco', split='val',
                             data_prefix=dict(img_path='train2014'), pipeline=[]))
    assert len(ds) == 2
    info = ds[0]
    assert info['expressions'] == ['left man', 'guy in red'] and info['expr_ref'] == [0, 0]
    assert info['img_path'].endswith('train2014/COCO_train2014_000000000001.jpg') and info['split'] == 'val'
    out = LoadReferMasks()(dict(info, ori_shape=(4, 5)))
    assert out['gt_masks'].shape == (2, 4, 5) and out['gt_masks'].sum(axis=(1, 2)).tolist() == [9, 9]


def test_relative_data_root_joined_once(tmp_path, monkeypatch):
    """A relative ``data_root`` (as the configs and the README use) reaches the images: mmengine already joins it into
    ``data_prefix`` (it was joined a second time: data/x/data/x/train2014/...)."""
    from mmseg.registry import DATASETS
    (tmp_path / 'data').mkdir()
    root = _refer_root(tmp_path / 'data')
    monkeypatch.chdir(tmp_path)
    assert osp.relpath(root, tmp_path) == 'data'
    ds = DATASETS.build(dict(type='RefCOCOSegDataset', data_root=osp.relpath(root, tmp_path), dataset='refcoco',
                             split='val', data_prefix=dict(img_path='train2014'), pipeline=[]))
    path = ds[0]['img_path']
    assert osp.normpath(path) == osp.normpath(osp.join(osp.relpath(root, tmp_path), 'train2014',
                                                       'COCO_train2014_000000000001.jpg'))


def test_load_phrasecut(tmp_path):
    tasks = [dict(task_id='7__0', image_id=7, phrase='black and white cow',
                  Polygons=[[[[0, 0], [2, 0], [2, 2], [0, 2]]], [[[3, 3], [4, 3], [4, 4], [3, 4]]]],
                  instance_boxes=[[0, 0, 2, 2], [3, 3, 1, 1]]),
             dict(task_id='7__1', image_id=7, phrase='grass', Polygons=[[[[0, 4], [4, 4], [4, 5], [0, 5]]]],
                  instance_boxes=[[0, 4, 4, 1]])]
    (tmp_path / 'refer_val.json').write_text(json.dumps(tasks))
    (tmp_path / 'image_data_split.json').write_text(json.dumps([dict(image_id=7, height=6, width=5, split='val')]))
    recs = load_phrasecut(str(tmp_path / 'refer_val.json'), str(tmp_path / 'image_data_split.json'))
    assert len(recs) == 1 and (recs[0]['height'], recs[0]['width']) == (6, 5)
    cow = recs[0]['refs'][0]
    assert cow['sentences'] == ['black and white cow'] and cow['bbox'] == [0, 0, 4, 4]
    m = decode_segmentation(cow['segmentation'], 6, 5)
    assert m.sum() == 9 + 4          # two instances: 3×3 and 2×2 pixels (cv2 fills the boundary)
    from mmseg.registry import DATASETS
    ds = DATASETS.build(dict(type='PhraseCutSegDataset', data_root=str(tmp_path), split='val', pipeline=[]))
    assert ds[0]['expressions'] == ['black and white cow', 'grass'] and ds[0]['img_path'].endswith('7.jpg')


def test_sample_and_swap_transforms():
    np.random.seed(0)
    res = SampleReferExpressions(num=2)(dict(expressions=['a', 'b', 'c', 'd'], expr_ref=[0, 0, 1, 1]))
    assert len(res['expressions']) == 2 and sorted(res['expr_ref']) == [0, 1]     # distinct refs first
    swap = SwapLeftRightWords()
    out = swap(dict(flip=True, flip_direction='horizontal',
                    expressions=['the circle left of the square', 'Left man', 'rightmost cup', 'leftover pie']))
    assert out['expressions'] == ['the circle right of the square', 'Right man', 'leftmost cup', 'leftover pie']
    assert swap(dict(flip=False, expressions=['left']))['expressions'] == ['left']


def test_metric_hand_values():
    import torch
    metric = ReferSegMetric(thresholds=(0.5, ))
    gt = torch.zeros(2, 2, 4, dtype=torch.bool)
    gt[0, 0, :2] = True            # 2 px
    gt[1, :, :] = True             # 8 px
    pred = torch.zeros_like(gt)
    pred[0, 0, :3] = True          # I 2, U 3 → 2/3
    pred[1, 0, :] = True           # I 4, U 8 → 1/2
    sample = dict(pred_masks=dict(data=pred), gt_masks=dict(data=gt), split='val')
    other = dict(pred_masks=dict(data=gt[:1].clone()), gt_masks=dict(data=gt[:1]), split='testA')   # IoU 1
    metric.process(None, [sample, other])
    res = metric.compute_metrics(metric.results)
    assert res['val/mIoU'] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    assert res['val/oIoU'] == pytest.approx(100 * 6 / 11)
    assert res['val/Pr@0.5'] == pytest.approx(100.0)
    assert res['testA/mIoU'] == pytest.approx(100.0)
    assert res['mIoU'] == pytest.approx(100 * (2 / 3 + 1 / 2 + 1) / 3)
    assert res['oIoU'] == pytest.approx(100 * 8 / 13) and res['num_pairs'] == 3


def test_synthetic_expressions_unambiguous():
    objs = [dict(shape='circle', colour='red', centre=(10.0, 30.0)),
            dict(shape='square', colour='blue', centre=(50.0, 32.0)),
            dict(shape='circle', colour='green', centre=(30.0, 5.0))]
    ex = referring_expressions(objs)
    assert 'the red circle left of the square' in ex[0]
    assert 'the circle' not in ex[0] and 'the square' in ex[1]
    assert 'the bottom circle' in ex[0] and 'the top circle' in ex[2]     # |dy| 25 > |dx| 20
    assert 'the blue square right of the circle' not in ex[1]             # circle is not unique


def test_synthetic_benchmark_masks(tmp_path):
    from mmseg_code.datasets.synthetic_shapes import ShapesConfig, generate_sample

    from projects.tseg.tseg.datasets import load_records, write_referring_benchmark
    cfg = ShapesConfig(image_size=48, max_objects=3)
    path = write_referring_benchmark(cfg, str(tmp_path), 3, 'val', split_index=1)
    recs = load_records(path)
    for i, rec in enumerate(recs):
        _, label, _, objects = generate_sample(cfg, 1, i)
        masks = [decode_segmentation(r['segmentation'], 48, 48, str(tmp_path)) for r in rec['refs']]
        assert len(masks) == len(objects)
        assert (np.sum(masks, 0) == (label > 0)).all()                    # a partition of the foreground
        for m, o in zip(masks, objects):
            ys, xs = np.nonzero(m)
            assert abs(xs.mean() - o['centre'][0]) < 0.2 * o['size'] and abs(ys.mean() - o['centre'][1]) < 0.2 * o['size']


def test_converter_refcoco_to_project_json(tmp_path):
    import runpy

    from mmseg.registry import DATASETS
    root = _refer_root(tmp_path)
    conv = runpy.run_path(str(pathlib.Path(__file__).parents[3] / 'projects/tseg/tools/convert_refer.py'))
    assert conv['main'](['refcoco', '--root', str(root), '--out', str(tmp_path / 'out'), '--splits', 'val', 'train',
                         '--image-prefix', 'train2014/']) == 0
    ds = DATASETS.build(dict(type='ReferSegDataset', data_root=str(tmp_path / 'out' / 'refcoco'),
                             ann_file='refs_val.json', split='val', pipeline=[]))
    assert len(ds) == 2 and ds[1]['expressions'] == ['the dog']
    assert ds[0]['img_path'].endswith('train2014/COCO_train2014_000000000001.jpg')
    m = LoadReferMasks()(dict(ds[1], ori_shape=(3, 3)))['gt_masks'][0]
    assert m.sum() == 3 and m[2, 0] and m[0, 1] and m[1, 1]
