# Synthetic coloured-shape captions (tools/dataset_converters/make_synthetic_shapes.py) for tests and the CPU demo.
# Same transforms as CC3M/CC12M at a small image size; the offline 'builtin' tagger needs no NLTK download.
data_root = 'data/synthetic_shapes'
image_size = 64
num_nouns = 2
context_length = 77

train_pipeline = [
    dict(type='DecodeImageBytes', min_size=8),
    dict(type='RandomResizedCrop', size=image_size, scale=(0.9, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CleanCaption'),
    dict(type='SelectNouns', num_nouns=num_nouns, min_nouns=1, tagger='builtin'),
    dict(type='TokenizeCaptionWithNouns', context_length=context_length),
    dict(type='PackImageTextInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=None,
    dataset=dict(
        type='ImageTextDataset',
        sources=dict(urls=data_root + '/shards/*.tar'),
        shuffle_buffer=1000,
        seed=0,
        pipeline=train_pipeline))

