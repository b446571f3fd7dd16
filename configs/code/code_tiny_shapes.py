# CoDe on the shapes CLIP (tools/pretrain_clip.py -> checkpoints/shapes_clip.pth, mmcode-shapes-vit: 64 px, patch 8,
# text context 32) and the synthetic shapes data: the CoDe half of the README's main job (tools/quickstart.py).
# Same modules and losses as code_tiny.py / code_vitb16_cc.py; sizes, schedule and data differ.
# Data: python tools/dataset_converters/make_synthetic_shapes.py --out data/synthetic_shapes
_base_ = ['./code_tiny.py']

clip_checkpoint = '{{ fileDirname }}/../../checkpoints/shapes_clip.pth'
context_length = 32          # the shapes CLIP's text context
total_iters = 400
warmup_iters = 40
batch_size = 16

model = dict(
    clip=dict(model_name='mmcode-shapes-vit', pretrained=clip_checkpoint),
    decode_head=dict(unfreeze_iter=total_iters // 2),
    region_prompt=dict(size=(64, 64)),             # P_v at the shapes image size
    test_cfg=dict(mode='whole', crop_size=None, stride=None, pamr=True))

train_pipeline = [
    dict(type='DecodeImageBytes', min_size=8),
    dict(type='RandomResizedCrop', size={{ _base_.image_size }}, scale=(0.9, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CleanCaption'),
    dict(type='SelectNouns', num_nouns={{ _base_.num_nouns }}, min_nouns=1, tagger='builtin'),
    dict(type='TokenizeCaptionWithNouns', context_length=context_length),
    dict(type='PackImageTextInputs'),
]
train_dataloader = dict(batch_size=batch_size, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, end_factor=1.0, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=total_iters - warmup_iters, eta_min=1e-5, by_epoch=False,
         begin=warmup_iters, end=total_iters),
]
train_cfg = dict(max_iters=total_iters, val_interval=total_iters)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=total_iters, max_keep_ckpts=1))
custom_hooks = [dict(type='SkipCounterHook', interval=50), dict(type='UnfreezeBlockHook'),
                dict(type='DatasetVocabularyHook')]
