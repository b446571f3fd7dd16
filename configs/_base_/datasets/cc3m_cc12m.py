# CC3M + CC12M image-caption shards written by img2dataset (see docs/data.md), streamed by ImageTextDataset.
# Pipeline as the official CoDe code: RandomResizedCrop(224, scale=(0.9, 1.0)) + horizontal flip, caption cleaned with
# ftfy, J=2 nouns from NLTK's tagger (captions with fewer than 2 nouns are dropped, as the official code does; set
# min_nouns=1 to keep them with a masked second slot), CLIP BPE ids (77) with noun token spans and word labels.
# Normalisation (ImageNet mean/std, BGR->RGB) is done by the model's SegDataPreProcessor.
data_root = 'data'
num_nouns = 2
context_length = 77

train_pipeline = [
    dict(type='DecodeImageBytes', min_size=8),
    dict(type='RandomResizedCrop', size=224, scale=(0.9, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CleanCaption', max_chars=2000),
    dict(type='SelectNouns', num_nouns=num_nouns, min_nouns=2, tagger='nltk'),
    dict(type='TokenizeCaptionWithNouns', context_length=context_length),
    dict(type='PackImageTextInputs'),
]

train_dataloader = dict(
    batch_size=16,  # per GPU; the paper uses 4 GPUs x 16 = 64
    num_workers=6,
    persistent_workers=True,
    sampler=None,  # an IterableDataset splits its own shards per rank/worker; PyTorch forbids a sampler here
    dataset=dict(
        type='ImageTextDataset',
        sources=[
            dict(urls=data_root + '/cc3m/{00000..00331}.tar', weight=3.0, name='cc3m'),
            dict(urls=data_root + '/cc12m/{00000..01242}.tar', weight=10.0, name='cc12m'),
        ],
        # The official code shuffles 40000 decoded samples; 10000 raw samples (~0.5 GB/worker at img2dataset's
        # 512 px) keep memory bounded. Raise it where memory allows.
        shuffle_buffer=10000,
        seed=0,
        pipeline=train_pipeline))

