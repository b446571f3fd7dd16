# CC3M shards (img2dataset webdataset, docs/data.md) for MGCA: 224x224 crops, every caption kept (nouns are only
# needed for the caption augmentation), caption = the original or a CLIP prompt with one of its nouns (GroupViT).
_base_ = ['../../../../configs/_base_/datasets/cc3m_cc12m.py']

train_pipeline = [
    dict(type='DecodeImageBytes', min_size=8),
    dict(type='RandomResizedCrop', size=224, scale=(0.9, 1.0)),     # as TCL/CoDe (the paper names no augmentation)
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CleanCaption', max_chars=2000),
    dict(type='SelectNouns', num_nouns=1, min_nouns=0, tagger='nltk'),
    dict(type='MGCANounPromptCaption', templates='imagenet80'),
    dict(type='TokenizeCaptionWithNouns', context_length=77),
    dict(type='PackImageTextInputs'),
]

train_dataloader = dict(
    batch_size=256,      # per GPU; the paper: 4 GPUs, global batch 1024
    dataset=dict(
        sources=[dict(urls='data/cc3m/{00000..00331}.tar', weight=1.0, name='cc3m')],
        pipeline=train_pipeline))
