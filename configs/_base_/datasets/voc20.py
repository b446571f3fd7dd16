# PASCAL VOC 2012 val (1,449 images) without background, 20 classes (``PascalVOC20Dataset`` of this plugin:
# the VOC label maps with reduce_zero_label, so background pixels are ignored).
# Protocol (resize, sliding window, PAMR, KP, background rule): zeroshot_protocol.py.
_base_ = ['./zeroshot_protocol.py']

dataset_type = 'PascalVOC20Dataset'
data_root = 'data/VOCdevkit/VOC2012'

test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        reduce_zero_label=True))
val_dataloader = test_dataloader

benchmark = dict(
    name='voc20',
    title='VOC20',                 # column name in Table 1
    data_subdir='VOCdevkit/VOC2012',   # relative to tools/benchmark.py --data-root
    background=False,
    # paper mIoU (for reference only): TCL CVPR'23 Table 1 (PAMR); CoDe CVPR'24 Table 1 (PAMR);
    # TCL without PAMR as reported by MGCA (ECCV'24) for the official checkpoint; training-free (no PAMR): MaskCLIP as
    # re-run by SCLIP, SCLIP/ClearCLIP/NACLIP papers, NACLIP with PAMR its README.
    paper=dict(pamr={'TCL': 83.2, 'NACLIP': 83.03}, no_pamr={'TCL': 77.5, 'MaskCLIP': 74.9, 'SCLIP': 80.4,
                                        'ClearCLIP': 80.9, 'NACLIP': 79.7}),
    model=dict(vocabulary='{{fileDirname}}/../../vocab/voc20.txt'))
