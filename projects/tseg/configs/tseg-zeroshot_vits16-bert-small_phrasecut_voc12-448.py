# TSEG Sec. 4.6: zero-shot transfer of the PhraseCut model to PASCAL VOC 2012 val (paper: 48.5 mIoU; SPA 43.5).
# The 20 Pascal class names are every image's expressions; a class is kept when its confidence σ(z) > 0.5
# (test_cfg.score_thr), its mask is thresholded at the background score (MPA: 0.5) and each pixel takes the argmax
# of the remaining masks, background where none is left. The paper names neither the test resolution nor the exact
# spelling of the names: this config uses the plugin's VOC protocol resize (short side 448, whole image, no PAMR)
# and mmseg's VOC class names (configs/vocab/voc20.txt).
#   python tools/test.py projects/tseg/configs/tseg-zeroshot_vits16-bert-small_phrasecut_voc12-448.py CKPT
_base_ = ['./tseg_vits16-bert-small_4xb8-120k_phrasecut-384x384.py']
voc_classes = ['aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow', 'diningtable',
               'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor']
model = dict(test_cfg=dict(class_names=voc_classes, score_thr=0.5, threshold=None))

# PASCAL VOC 2012 val as configs/_base_/datasets/voc21.py (mmseg PascalVOCDataset, 1,449 images, 21 classes)
voc_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 448), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    _delete_=True, batch_size=1, num_workers=2, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='PascalVOCDataset', data_root='data/VOCdevkit/VOC2012',
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/val.txt', reduce_zero_label=False, pipeline=voc_pipeline))
val_dataloader = test_dataloader
test_evaluator = dict(_delete_=True, type='IoUMetric', iou_metrics=['mIoU'])
val_evaluator = test_evaluator
