# Cityscapes val (500 images, 2048x1024 -> 896x448), 19 classes, no background (mmseg ``CityscapesDataset``,
# ``*_gtFine_labelTrainIds.png`` from mmseg's tools/dataset_converters/cityscapes.py).
#
# Zero-shot protocol of TCL/CoDe (ref-tcl.md §4), identical for all 8 benchmarks except the background rule:
#   * test resize: short side 448 (long side <= 2048, upscaling allowed), no flip, no multi-scale;
#   * sliding window 448x448, stride 224 (mmseg grid, windows averaged), bilinear resize to the original size;
#   * PAMR (10 iterations, dilations 1,2,4,8,12,24) on the 1/4-resolution masks; KP mix 0.3;
#   * vocabulary: the mmseg class names verbatim (configs/vocab/cityscapes.txt), prompt ensemble done by the model;
#   * no background class: plain argmax over the classes.
# An experiment config takes the protocol into its model with one line:
#     _base_ = ['<model base>', '../_base_/datasets/cityscapes.py', '<runtime>']
#     model = _base_.benchmark.model
# tools/benchmark.py does the same for every benchmark (and the no-PAMR run: pamr=False, bg_thresh 0.5).
dataset_type = 'CityscapesDataset'
data_root = 'data/cityscapes'

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 448), keep_ratio=True),
    # annotations are loaded after Resize: the ground truth keeps its original size
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        reduce_zero_label=False,
        pipeline=test_pipeline))
val_dataloader = test_dataloader
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
val_evaluator = test_evaluator

benchmark = dict(
    name='cityscapes',
    title='City',                      # column name in Table 1
    data_subdir='cityscapes',   # relative to tools/benchmark.py --data-root
    background=False,
    # paper mIoU (for reference only): TCL CVPR'23 Table 1 (PAMR); CoDe CVPR'24 Table 1 (PAMR);
    # TCL without PAMR as reported by MGCA (ECCV'24) for the official checkpoint.
    paper=dict(pamr={'TCL': 24.0, 'CoDe': 28.9}, no_pamr={'TCL': 23.1}),
    # merged into the model config: ``model = _base_.benchmark.model``
    model=dict(
        vocabulary='{{fileDirname}}/../../vocab/cityscapes.txt',
        test_cfg=dict(mode='slide', crop_size=(448, 448), stride=(224, 224), pamr=True, bg_thresh=None,
                      kp_weight=0.3)))
