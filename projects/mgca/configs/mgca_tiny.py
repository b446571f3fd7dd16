# MGCA with the tiny random CLIP (mmcode-tiny-vit-p16, C = 64) on the synthetic shapes data (README main job):
# trains and evaluates on a CPU in seconds. Same modules as mgca_vitb16_cc3m.py; sizes, schedule and data differ.
# Generate the data first: python tools/dataset_converters/make_synthetic_shapes.py --out data/synthetic_shapes
_base_ = [
    './_base_/mgca_vitb16.py',
    '../../../configs/_base_/datasets/synthetic_shapes_captions.py',
    '../../../configs/_base_/datasets/synthetic_shapes_seg.py',
    '../../../configs/_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmseg_code', 'projects.mgca.mgca'], allow_failed_imports=False)
total_iters = 40
warmup_iters = 10

model = dict(
    clip=dict(model_name='mmcode-tiny-vit-p16', pretrained=None),
    # 64x64 test images -> 8x8 pixel embeddings; 4x4 = 16 meta-points
    test_cfg=dict(mode='whole', crop_size=None, stride=None, num_units=16))

train_pipeline = [
    dict(type='DecodeImageBytes', min_size=8),
    dict(type='RandomResizedCrop', size=64, scale=(0.9, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CleanCaption'),
    dict(type='SelectNouns', num_nouns=1, min_nouns=0, tagger='builtin'),
    dict(type='MGCANounPromptCaption', templates='imagenet80'),
    dict(type='TokenizeCaptionWithNouns', context_length=77),
    dict(type='PackImageTextInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader

optim_wrapper = dict(type='OptimWrapper', constructor='SummaryOptimWrapperConstructor',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, end_factor=1.0, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=total_iters - warmup_iters, eta_min=0.0, by_epoch=False,
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
custom_hooks = [dict(type='SkipCounterHook', interval=10), dict(type='DatasetVocabularyHook')]
