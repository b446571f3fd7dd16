# MGCA on the shapes CLIP (tools/pretrain_clip.py -> checkpoints/shapes_clip.pth, mmcode-shapes-vit: 64 px, patch 8,
# text context 32) and the synthetic shapes data of the README's main job: a CPU-sized sanity run of the full method.
# Data: python tools/dataset_converters/make_synthetic_shapes.py --out data/synthetic_shapes
_base_ = ['./mgca_tiny.py']

clip_checkpoint = '{{ fileDirname }}/../../../checkpoints/shapes_clip.pth'
context_length = 32          # the shapes CLIP's text context
total_iters = 300
warmup_iters = 30

model = dict(
    clip=dict(model_name='mmcode-shapes-vit', pretrained=clip_checkpoint),
    # 64x64 images, patch 8 -> 8x8 -> 16x16 pixel embeddings; 6x6 = 36 meta-points as the paper
    test_cfg=dict(mode='whole', crop_size=None, stride=None, num_units=36))

train_pipeline = [
    dict(type='DecodeImageBytes', min_size=8),
    dict(type='RandomResizedCrop', size=64, scale=(0.9, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CleanCaption'),
    dict(type='SelectNouns', num_nouns=1, min_nouns=0, tagger='builtin'),
    dict(type='MGCANounPromptCaption', templates='imagenet80'),
    dict(type='TokenizeCaptionWithNouns', context_length=context_length),
    dict(type='PackImageTextInputs'),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, end_factor=1.0, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=total_iters - warmup_iters, eta_min=0.0, by_epoch=False,
         begin=warmup_iters, end=total_iters),
]
train_cfg = dict(max_iters=total_iters, val_interval=total_iters + 1)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=total_iters))
