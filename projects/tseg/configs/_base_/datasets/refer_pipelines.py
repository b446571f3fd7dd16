# Referring segmentation pipelines: train 384×384 crops with random rescale and flip (left/right words swapped),
# three positive expressions per image; test short side 384, one GT mask per expression at the original size.
crop_size = (384, 384)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResize', scale=(2048, 384), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SwapLeftRightWords'),
    dict(type='SampleReferExpressions', num=3),
    dict(type='PackReferInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 384), keep_ratio=True),
    dict(type='LoadReferMasks'),
    dict(type='PackReferInputs'),
]
val_evaluator = dict(type='ReferSegMetric')
test_evaluator = val_evaluator
