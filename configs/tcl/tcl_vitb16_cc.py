# TCL baseline (CVPR 2023) on CC3M + CC12M: OpenAI ViT-B/16, whole captions, 50k iterations, total batch 1024
# (64 per GPU x 16 GPUs as the paper; lr 7.5e-5 is for 1024 -- use --auto-scale-lr for another total batch).
# Evaluate a checkpoint on a benchmark by combining this model with a dataset config from configs/_base_/datasets/
# (`model = _base_.benchmark.model` takes the vocabulary and the slide/PAMR/KP protocol).
_base_ = [
    '../_base_/models/tcl_vitb16.py',
    '../_base_/datasets/cc3m_cc12m.py',
    '../_base_/schedules/tcl_50k.py',
    '../_base_/default_runtime.py',
]

# TCL trains on whole captions: no caption is dropped for its noun count (min_nouns=0).
# TCL's own augmentation (kakaobrain/tcl datasets/builder.py): timm create_transform(224, is_training=True,
# color_jitter=0.4, auto_augment='rand-m9-mstd0.5-inc1', re_prob=0.25, re_mode='pixel', re_count=1), i.e.
# RandomResizedCrop(224, scale=(0.08, 1), ratio=(3/4, 4/3)) -> hflip 0.5 -> RandAugment -> ImageNet normalisation ->
# RandomErasing. The colour jitter is inert in timm when RandAugment is on, so it has no transform here; the
# normalisation is the model's SegDataPreProcessor (ImageNet mean/std). TimmRandAugment/TimmRandomErasing run timm's
# own operators (mmseg_code/datasets/transforms/timm_augment.py). The previous crop + flip only pipeline:
# configs/tcl/tcl_vitb16_cc_code_pipeline.py.
train_pipeline = [
    dict(type='DecodeImageBytes', min_size=8),
    dict(type='RandomResizedCrop', size=224, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='TimmRandAugment', config_str='rand-m9-mstd0.5-inc1', img_size=224),
    dict(type='TimmRandomErasing', prob=0.25, mode='pixel', max_count=1),
    dict(type='CleanCaption', max_chars=2000),
    dict(type='SelectNouns', num_nouns=2, min_nouns=0, tagger='builtin'),
    dict(type='TokenizeCaptionWithNouns', context_length=77),
    dict(type='PackImageTextInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))

custom_hooks = _base_.custom_hooks + [dict(type='SkipCounterHook', interval=50), dict(type='UnfreezeBlockHook')]
