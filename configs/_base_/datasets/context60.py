# PASCAL Context val (5,105 images), 60 classes: background + 59 (mmseg ``PascalContextDataset``).
# Protocol (resize, sliding window, PAMR, KP, background rule): zeroshot_protocol.py.
_base_ = ['./zeroshot_protocol.py']

dataset_type = 'PascalContextDataset'
data_root = 'data/VOCdevkit/VOC2010'

test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
        ann_file='ImageSets/SegmentationContext/val.txt',
        reduce_zero_label=False))
val_dataloader = test_dataloader

benchmark = dict(
    name='context60',
    title='Context',               # column name in Table 1
    data_subdir='VOCdevkit/VOC2010',   # relative to tools/benchmark.py --data-root
    background=True,
    # paper mIoU (for reference only): TCL CVPR'23 Table 1 (PAMR); CoDe CVPR'24 Table 1 (PAMR);
    # TCL without PAMR as reported by MGCA (ECCV'24) for the official checkpoint; training-free (no PAMR): MaskCLIP as
    # re-run by SCLIP, SCLIP/ClearCLIP/NACLIP papers, NACLIP with PAMR its README.
    paper=dict(pamr={'TCL': 30.4, 'CoDe': 30.5, 'NACLIP': 34.99}, no_pamr={'TCL': 24.3, 'MaskCLIP': 23.2, 'SCLIP': 30.4,
                                        'ClearCLIP': 32.6, 'NACLIP': 32.2}),
    model=dict(vocabulary='{{fileDirname}}/../../vocab/context60.txt'))
