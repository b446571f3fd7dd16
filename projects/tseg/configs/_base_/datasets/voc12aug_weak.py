# PASCAL VOC 2012 + SBD ("aug", 10,582 train images; val 1,449) with image-level labels as expressions (TSEG Table 1:
# class encoding by the language model): the names of the classes present in an image are its positive
# expressions. Layout as mmseg's configs/_base_/datasets/pascal_voc12_aug.py (SegmentationClassAug from SBD).
# Train 384×384 crops with random rescale and flip; test short side 384, whole image.
data_root = 'data/VOCdevkit/VOC2012'
crop_size = (384, 384)
voc_classes = ['aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow', 'diningtable',
               'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor']
meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction', 'reduce_zero_label', 'expressions')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='SegLabelsToExpressions', class_names=voc_classes, first_label=1, ignore_index=255),  # whole image
    dict(type='RandomResize', scale=(2048, 384), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 384), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
voc_train = dict(type='PascalVOCDataset', data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/train.txt', pipeline=train_pipeline)
voc_aug = dict(type='PascalVOCDataset', data_root=data_root,
               data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
               ann_file='ImageSets/Segmentation/aug.txt', pipeline=train_pipeline)
train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='ConcatDataset', datasets=[voc_train, voc_aug]))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='PascalVOCDataset', data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/val.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
