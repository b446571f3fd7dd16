# TCL ViT-B/16 on CC3M + CC12M with the augmentation of this plugin's CoDe-style pipeline instead of TCL's timm recipe:
# RandomResizedCrop(224, scale=(0.08, 1)) + horizontal flip only (no RandAugment, no RandomErasing). Everything else
# is tcl_vitb16_cc.py.
_base_ = ['./tcl_vitb16_cc.py']

train_pipeline = [
    dict(type='DecodeImageBytes', min_size=8),
    dict(type='RandomResizedCrop', size=224, scale=(0.08, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CleanCaption', max_chars=2000),
    dict(type='SelectNouns', num_nouns=2, min_nouns=0, tagger='builtin'),
    dict(type='TokenizeCaptionWithNouns', context_length=77),
    dict(type='PackImageTextInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
