# CoDe with the tiny random CLIP (mmcode-tiny-vit-p16: text width = embed dim = 64) on the synthetic shapes data:
# trains and evaluates on a CPU in about a minute. Same modules and switches as code_vitb16_cc.py; only sizes,
# schedule and data differ. Generate the data first: python tools/dataset_converters/make_synthetic_shapes.py
_base_ = [
    '../_base_/models/code_vitb16.py',
    '../_base_/datasets/synthetic_shapes_captions.py',
    '../_base_/datasets/synthetic_shapes_seg.py',
    '../_base_/default_runtime.py',
]
total_iters = 40
warmup_iters = 10

model = dict(
    clip=dict(model_name='mmcode-tiny-vit-p16', pretrained=None),
    decode_head=dict(unfreeze_iter=20),
    text_segmenter=dict(num_heads=2),
    test_cfg=dict(mode='whole', crop_size=None, stride=None))

train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader

optim_wrapper = dict(type='OptimWrapper', constructor='SummaryOptimWrapperConstructor',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
                     clip_grad=dict(max_norm=5.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, end_factor=1.0, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=total_iters - warmup_iters, eta_min=1e-5, by_epoch=False,
         begin=warmup_iters, end=total_iters),
]
# validation on the synthetic held-out split (not a benchmark test set)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_iters, val_interval=total_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=20, max_keep_ckpts=1,
                                     save_last=True, save_best=None),
                     visualization=dict(type='SegVisualizationHook', draw=False))
custom_hooks = [dict(type='SkipCounterHook', interval=10), dict(type='UnfreezeBlockHook'),
                dict(type='DatasetVocabularyHook')]
