# Fully-supervised upper bound (paper: 49.6 mIoU on PhraseCut): Dice on σ(S↑), AdamW 5e-5, batch 16, 512×512.
_base_ = ['./tseg_vits16-bert-small_4xb8-120k_phrasecut-384x384.py']
crop_size = (512, 512)
model = dict(supervision='full', data_preprocessor=dict(size=crop_size))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferMasks', seg_field=True),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SwapLeftRightWords'),
    dict(type='PackReferInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(_delete_=True, type='OptimWrapper', constructor='SummaryOptimWrapperConstructor',
                     optimizer=dict(type='AdamW', lr=5e-5, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=16)
