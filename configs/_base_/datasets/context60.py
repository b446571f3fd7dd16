# PASCAL Context val (5,105 images), 60 classes: background + 59 (mmseg ``PascalContextDataset``).
#
# Zero-shot protocol of TCL/CoDe (ref-tcl.md §4), identical for all 8 benchmarks except the background rule:
#   * test resize: short side 448 (long side <= 2048, upscaling allowed), no flip, no multi-scale;
#   * sliding window 448x448, stride 224 (mmseg grid, windows averaged), bilinear resize to the original size;
#   * PAMR (10 iterations, dilations 1,2,4,8,12,24) on the 1/4-resolution masks; KP mix 0.3;
#   * vocabulary: the mmseg class names verbatim (configs/vocab/context60.txt), prompt ensemble done by the model;
#   * the first class is 'background': no prompt, a constant score plane
#     bg_thresh (0.4 with PAMR, 0.5 without) is output channel 0 ('background iff max_k m_k <= bg_thresh').
# An experiment config takes the protocol into its model with one line:
#     _base_ = ['<model base>', '../_base_/datasets/context60.py', '<runtime>']
#     model = _base_.benchmark.model
# tools/benchmark.py does the same for every benchmark (and the no-PAMR run: pamr=False, bg_thresh 0.5).
dataset_type = 'PascalContextDataset'
data_root = 'data/VOCdevkit/VOC2010'

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
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
        ann_file='ImageSets/SegmentationContext/val.txt',
        reduce_zero_label=False,
        pipeline=test_pipeline))
val_dataloader = test_dataloader
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
val_evaluator = test_evaluator

benchmark = dict(
    name='context60',
    title='Context',                      # column name in Table 1
    data_subdir='VOCdevkit/VOC2010',   # relative to tools/benchmark.py --data-root
    background=True,
    # paper mIoU (for reference only): TCL CVPR'23 Table 1 (PAMR); CoDe CVPR'24 Table 1 (PAMR);
    # TCL without PAMR as reported by MGCA (ECCV'24) for the official checkpoint.
    paper=dict(pamr={'TCL': 30.4, 'CoDe': 30.5}, no_pamr={'TCL': 24.3}),
    # merged into the model config: ``model = _base_.benchmark.model``
    model=dict(
        vocabulary='{{fileDirname}}/../../vocab/context60.txt',
        test_cfg=dict(mode='slide', crop_size=(448, 448), stride=(224, 224), pamr=True, bg_thresh=None,
                      kp_weight=0.3)))
