# PASCAL Context val (5,105 images) without background, 59 classes (mmseg ``PascalContextDataset59``).
# Protocol (resize, sliding window, PAMR, KP, background rule): zeroshot_protocol.py.
_base_ = ['./zeroshot_protocol.py']

dataset_type = 'PascalContextDataset59'
data_root = 'data/VOCdevkit/VOC2010'

test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
        ann_file='ImageSets/SegmentationContext/val.txt',
        reduce_zero_label=True))
val_dataloader = test_dataloader

benchmark = dict(
    name='context59',
    title='Context59',             # column name in Table 1
    data_subdir='VOCdevkit/VOC2010',   # relative to tools/benchmark.py --data-root
    background=False,
    # paper mIoU (for reference only): TCL CVPR'23 Table 1 (PAMR); CoDe CVPR'24 Table 1 (PAMR);
    # TCL without PAMR as reported by MGCA (ECCV'24) for the official checkpoint; training-free (no PAMR): MaskCLIP as
    # re-run by SCLIP, SCLIP/ClearCLIP/NACLIP papers, NACLIP with PAMR its README.
    paper=dict(pamr={'TCL': 33.9, 'NACLIP': 38.35}, no_pamr={'TCL': 30.3, 'MaskCLIP': 26.4, 'SCLIP': 34.2,
                                        'ClearCLIP': 35.9, 'NACLIP': 35.2}),
    model=dict(vocabulary='{{fileDirname}}/../../vocab/context59.txt'))
