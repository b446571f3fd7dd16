# Generated referring benchmark (synthetic shapes + expressions), written by
#   python projects/tseg/tools/make_synthetic_refer.py --out data/tseg_shapes_refer
dataset_type = 'ReferSegDataset'
data_root = 'data/tseg_shapes_refer'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SwapLeftRightWords'),
    dict(type='SampleReferExpressions', num=3),
    dict(type='PackReferInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferMasks'),
    dict(type='PackReferInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='refs_train.json', split='train',
                 data_prefix=dict(img_path='images'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='refs_val.json', split='val',
                 data_prefix=dict(img_path='images'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ReferSegMetric')
test_evaluator = val_evaluator
