# Zero-shot evaluation protocol of TCL/CoDe (ref-tcl.md §4), shared by the 8 benchmark configs of this folder
# (voc21, voc20, context60, context59, coco_object, coco_stuff171, cityscapes, ade20k), which add only what differs:
# dataset type and paths, reduce_zero_label, the vocabulary and the background rule.
#   * test resize: short side 448 (long side <= 2048, upscaling allowed), no flip, no multi-scale;
#   * sliding window 448x448, stride 224 (mmseg grid, windows averaged), bilinear resize to the original size;
#   * PAMR (10 iterations, dilations 1,2,4,8,12,24) on the 1/4-resolution masks; KP mix 0.3;
#   * vocabulary: the mmseg class names verbatim (configs/vocab/<name>.txt), prompt ensemble done by the model;
#   * benchmarks whose first class is 'background' (benchmark.background=True): no prompt for it, a constant score
#     plane bg_thresh (0.4 with PAMR, 0.5 without) is output channel 0 ('background iff max_k m_k <= bg_thresh');
#     the others: plain argmax over the classes.
# An experiment config takes the protocol into its model with one line:
#     _base_ = ['<model base>', '../_base_/datasets/voc21.py', '<runtime>']
#     model = _base_.benchmark.model
# tools/benchmark.py does the same for every benchmark (and the no-PAMR run: pamr=False, bg_thresh 0.5).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 448), keep_ratio=True),
    # annotations are loaded after Resize: the ground truth keeps its original size; reduce_zero_label is taken
    # from the dataset (mmseg 1.x: setting it here is deprecated)
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline=test_pipeline))
val_dataloader = test_dataloader
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
val_evaluator = test_evaluator
# MMEngine's Runner takes each (dataloader, loop, evaluator) triple whole: tools/test.py / dist_test.sh need all three.
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')

benchmark = dict(
    # merged into the model config: ``model = _base_.benchmark.model`` (each benchmark adds its vocabulary)
    model=dict(
        test_cfg=dict(mode='slide', crop_size=(448, 448), stride=(224, 224), pamr=True, bg_thresh=None,
                      kp_weight=0.3)))
