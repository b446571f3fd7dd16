"""The 8 benchmark configs, their class-name files and the two datasets the plugin adds."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

import mmseg_code  # noqa: F401
from mmseg_code.models.vocab import Vocabulary

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DS = osp.join(ROOT, 'configs', '_base_', 'datasets')

# name: (number of classes, has background, mmseg/plugin dataset type, reduce_zero_label) — from the papers' protocol
# (TCL Sec. 4.1 and Table 1): VOC 21, Context 60, Object 81 with background; VOC20, Context59, Stuff 171, City 19, ADE 150.
EXPECTED = {
    'voc21': (21, True, 'PascalVOCDataset', False),
    'context60': (60, True, 'PascalContextDataset', False),
    'coco_object': (81, True, 'COCOObjectDataset', False),
    'voc20': (20, False, 'PascalVOC20Dataset', True),
    'context59': (59, False, 'PascalContextDataset59', True),
    'coco_stuff171': (171, False, 'COCOStuffDataset', False),
    'cityscapes': (19, False, 'CityscapesDataset', False),
    'ade20k': (150, False, 'ADE20KDataset', True),
}


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_config_protocol(name, tmp_path):
    n, bg, dtype, rzl = EXPECTED[name]
    cfg = Config.fromfile(osp.join(DS, f'{name}.py'))
    ds = cfg.test_dataloader.dataset
    assert ds.type == dtype and ds.reduce_zero_label is rzl
    pipe = [t['type'] for t in ds.pipeline]
    assert pipe == ['LoadImageFromFile', 'Resize', 'LoadAnnotations', 'PackSegInputs']
    assert ds.pipeline[1]['scale'] == (2048, 448) and ds.pipeline[1]['keep_ratio'] is True
    # LoadAnnotations takes reduce_zero_label from the dataset's data info: labels 0, 1, 5 -> 255, 0, 4 when reduced
    import cv2
    import numpy as np
    from mmseg.registry import TRANSFORMS
    png = str(tmp_path / 'label.png')
    cv2.imwrite(png, np.array([[0, 1, 5], [5, 1, 0]], np.uint8))
    load = TRANSFORMS.build(ds.pipeline[2])
    out = load(dict(seg_map_path=png, reduce_zero_label=ds.reduce_zero_label, seg_fields=[]))
    assert out['gt_seg_map'].tolist() == ([[255, 0, 4], [4, 0, 255]] if rzl else [[0, 1, 5], [5, 1, 0]])
    assert cfg.test_dataloader.batch_size == 1 and cfg.test_dataloader.persistent_workers is False
    assert cfg.test_evaluator == dict(type='IoUMetric', iou_metrics=['mIoU'])
    assert ds.data_root.startswith('data/')
    b = cfg.benchmark
    assert b.name == name and b.background is bg
    assert b.model.test_cfg == dict(mode='slide', crop_size=(448, 448), stride=(224, 224), pamr=True,
                                    bg_thresh=None, kp_weight=0.3)
    vocab = Vocabulary(b.model.vocabulary)                       # the class-name file through the model's parser
    assert len(vocab) == n and vocab.has_background is bg
    assert len(vocab.names) == n - int(bg)
    # names are mmseg's, verbatim (except ADE's trailing space in 'bed ')
    from mmseg.registry import DATASETS
    cls = DATASETS.get(dtype)
    assert [c.strip() for c in cls.METAINFO['classes']] == vocab.class_names


def test_class_files_spot_checks():
    read = lambda n: [ln.rstrip('\n') for ln in open(osp.join(ROOT, 'configs', 'vocab', f'{n}.txt'))]  # noqa: E731
    voc = read('voc21')
    assert voc[:3] == ['background', 'aeroplane', 'bicycle'] and voc[-1] == 'tvmonitor'
    assert 'diningtable' in voc and 'pottedplant' in voc
    assert read('voc20') == voc[1:]
    obj = read('coco_object')
    assert obj[:4] == ['background', 'person', 'bicycle', 'car'] and obj[-1] == 'toothbrush'
    assert 'dining table' in obj and 'tv' in obj and 'hair drier' in obj
    assert read('coco_stuff171')[:80] == obj[1:]
    assert read('context60')[0] == 'background' and read('context60')[1:] == read('context59')
    assert read('cityscapes')[:3] == ['road', 'sidewalk', 'building']
    assert 'bed' in read('ade20k') and read('ade20k')[0] == 'wall'


def _write_png(path, arr):
    Image.fromarray(arr.astype(np.uint8)).save(path)


def test_voc20_and_coco_object_label_loading(tmp_path):
    """Ground truth as the metric sees it: VOC20 drops background to 255 and shifts; COCO-Object keeps 0..80."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    voc = tmp_path / 'VOC2012'
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        (voc / sub).mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(voc / 'JPEGImages' / 'a.jpg')
    _write_png(voc / 'SegmentationClass' / 'a.png', np.array([[0, 1, 20, 255]] * 4))
    (voc / 'ImageSets/Segmentation/val.txt').write_text('a\n')
    cfg = Config.fromfile(osp.join(DS, 'voc20.py'))
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.data_root = str(voc)
    sample = DATASETS.build(ds_cfg)[0]
    gt = sample['data_samples'].gt_sem_seg.data.numpy()[0]
    assert gt[0].tolist() == [255, 0, 19, 255]        # bg ignored, aeroplane 1 → 0, tvmonitor 20 → 19, 255 kept

    coco = tmp_path / 'coco'
    (coco / 'images/val2017').mkdir(parents=True)
    (coco / 'annotations/val2017').mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(coco / 'images/val2017/1.jpg')
    _write_png(coco / 'annotations/val2017/1_instanceTrainIds.png', np.array([[0, 1, 80, 7]] * 4))
    _write_png(coco / 'annotations/val2017/1_labelTrainIds.png', np.full((4, 4), 5))   # COCO-Stuff's, not ours
    cfg = Config.fromfile(osp.join(DS, 'coco_object.py'))
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.data_root = str(coco)
    ds = DATASETS.build(ds_cfg)
    assert len(ds) == 1 and ds.metainfo['classes'][0] == 'background' and len(ds.metainfo['classes']) == 81
    gt = ds[0]['data_samples'].gt_sem_seg.data.numpy()[0]
    assert gt[0].tolist() == [0, 1, 80, 7]
