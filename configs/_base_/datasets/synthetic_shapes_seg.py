# Segmentation benchmark written by tools/dataset_converters/make_synthetic_shapes.py in VOC layout
# (JPEGImages/, SegmentationClass/ palette PNGs, ImageSets/Segmentation/val.txt, class_names.txt with background first).
dataset_type = 'ClassListSegDataset'
seg_data_root = 'data/synthetic_shapes/seg'
seg_image_size = 64

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(seg_image_size, seg_image_size), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]

val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=seg_data_root,
        class_file='class_names.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
