"""Converter round trip, synthetic generator (determinism, captions naming the classes, VOC benchmark), inspector."""
import hashlib
import importlib.util
import io
import json
import os
import os.path as osp

import numpy as np
from mmengine.registry import init_default_scope
from PIL import Image

from mmseg_code.datasets import ImageTextDataset
from mmseg_code.datasets.class_list_dataset import ClassListSegDataset
from mmseg_code.datasets.nlp import extract_nouns, get_pos_tagger
from mmseg_code.datasets.shard_stats import shard_statistics
from mmseg_code.datasets.synthetic_shapes import ShapesConfig, generate_sample

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool(rel):
    spec = importlib.util.spec_from_file_location(osp.basename(rel)[:-3], osp.join(ROOT, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_converter_round_trip(tmp_path, helpers):
    src = tmp_path / 'pairs'
    (src / 'sub').mkdir(parents=True)
    originals = {}
    for i in range(5):
        data = helpers.image_bytes((10 + i, 9), fmt='PNG' if i % 2 else 'JPEG')
        name = f'sub/img{i}.{"png" if i % 2 else "jpg"}'
        (src / name).write_bytes(data)
        (src / f'sub/img{i}.txt').write_text(f'a dog number {i}\n')
        originals[f'a dog number {i}'] = data
    (src / 'nocaption.jpg').write_bytes(helpers.image_bytes())
    (src / 'broken.jpg').write_bytes(b'not an image')
    (src / 'broken.txt').write_text('a cat')
    tool = load_tool('tools/dataset_converters/pack_image_text_shards.py')
    assert tool.main(['--folder', str(src), '--out', str(tmp_path / 'shards'), '--shard-size', '2']) == 0
    shards = sorted(os.listdir(tmp_path / 'shards'))
    assert [s for s in shards if s.endswith('.tar')] == ['00000.tar', '00001.tar', '00002.tar']
    assert '00000_stats.json' in shards
    ds = ImageTextDataset(sources=dict(urls=str(tmp_path / 'shards/{00000..00002}.tar')), repeat=False,
                          shuffle_buffer=0)
    out = list(ds)
    assert {r['caption']: r['img_bytes'] for r in out} == originals  # bytes unchanged
    assert sorted(r['key'] for r in out) == ['000000000', '000000001', '000010000', '000010001', '000020000']
    meta = next(r['meta'] for r in out if r['caption'] == 'a dog number 1')
    assert (meta['width'], meta['height'], meta['status']) == (11, 9, 'success')
    # the inspector sees the same
    report = shard_statistics([str(tmp_path / 'shards' / s) for s in shards if s.endswith('.tar')],
                              decode=True, progress=False)
    assert report['samples'] == 5 and report['problems'] == {}
    assert report['members_by_extension'] == {'json': 5, 'jpg': 3, 'txt': 5, 'png': 2}


def test_converter_from_jsonl(tmp_path, helpers):
    (tmp_path / 'a.jpg').write_bytes(helpers.image_bytes())
    (tmp_path / 'p.jsonl').write_text(json.dumps(dict(image='a.jpg', caption='a red car')) + '\n'
                                      + json.dumps(dict(image='gone.jpg', caption='x')) + '\n')
    tool = load_tool('tools/dataset_converters/pack_image_text_shards.py')
    assert tool.main(['--ann-file', str(tmp_path / 'p.jsonl'), '--out', str(tmp_path / 'o')]) == 0
    out = list(ImageTextDataset(sources=dict(urls=str(tmp_path / 'o/00000.tar')), repeat=False))
    assert [r['caption'] for r in out] == ['a red car']


def _digest(folder):
    h = hashlib.sha1()
    for root, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            if f != 'generator_args.json':
                h.update(f.encode())
                h.update(open(osp.join(root, f), 'rb').read())
    return h.hexdigest()


def test_synthetic_generator_deterministic_and_consistent(tmp_path):
    tool = load_tool('tools/dataset_converters/make_synthetic_shapes.py')
    args = ['--num-train', '300', '--num-val', '20', '--image-size', '48', '--shard-size', '100', '--max-objects',
            '3']
    tool.main(['--out', str(tmp_path / 'a')] + args)
    tool.main(['--out', str(tmp_path / 'b')] + args)
    assert _digest(tmp_path / 'a') == _digest(tmp_path / 'b')
    tool.main(['--out', str(tmp_path / 'c'), '--seed', '1'] + args)
    assert _digest(tmp_path / 'a') != _digest(tmp_path / 'c')
    # VOC layout read by the benchmark dataset with classes from the file
    seg = tmp_path / 'a' / 'seg'
    init_default_scope('mmseg')
    assert (seg / 'class_names.txt').read_text().split('\n')[:5] == [
        'background', 'circle', 'square', 'triangle', 'star']
    ds = ClassListSegDataset(class_file='class_names.txt', data_root=str(seg),
                             data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                             ann_file='ImageSets/Segmentation/val.txt',
                             pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                                       dict(type='PackSegInputs')])
    assert len(ds) == 20 and ds.metainfo['classes'] == ('background', 'circle', 'square', 'triangle', 'star')
    item = ds[0]
    labels = set(np.unique(item['data_samples'].gt_sem_seg.data.numpy()).tolist())
    assert 0 in labels and labels <= {0, 1, 2, 3, 4} and len(labels) >= 2
    # shards: caption nouns are exactly the shape names of the objects, and masks hold those classes
    tag = get_pos_tagger('builtin')
    out = list(ImageTextDataset(sources=dict(urls=str(tmp_path / 'a/shards/*.tar')), repeat=False,
                                shuffle_buffer=0))
    assert len(out) == 300
    names = ['background', 'circle', 'square', 'triangle', 'star']
    for r in out[:25]:
        shapes = {o['shape'] for o in r['meta']['objects']}
        assert set(extract_nouns(tag(r['caption']))) == shapes
        mask = np.asarray(Image.open(io.BytesIO(_member(tmp_path, r['key']))))
        assert {names[v] for v in np.unique(mask) if v} == shapes


def _member(tmp_path, key):
    import tarfile
    for shard in sorted((tmp_path / 'a' / 'shards').glob('*.tar')):
        with tarfile.open(shard) as t:
            try:
                return t.extractfile(f'{key}.seg.png').read()
            except KeyError:
                continue
    raise KeyError(key)


def test_synthetic_objects_large_and_separable():
    cfg = ShapesConfig(image_size=64, seed=3)
    fg = []
    for i in range(50):
        img, label, caption, objects = generate_sample(cfg, 0, i)
        fg.append((label > 0).mean())
        hsv = np.asarray(Image.fromarray(img).convert('HSV'), dtype=np.float64)
        # objects are saturated, background is not (mean saturation), so they are distinguishable
        assert hsv[..., 1][label > 0].mean() > hsv[..., 1][label == 0].mean() + 60
    assert 0.08 < float(np.mean(fg)) < 0.4
