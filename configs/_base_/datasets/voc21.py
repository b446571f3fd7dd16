# PASCAL VOC 2012 val (1,449 images), 21 classes: background + 20 objects (mmseg ``PascalVOCDataset``).
# Protocol (resize, sliding window, PAMR, KP, background rule): zeroshot_protocol.py.
_base_ = ['./zeroshot_protocol.py']

dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'

test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        reduce_zero_label=False))
val_dataloader = test_dataloader

benchmark = dict(
    name='voc21',
    title='VOC',                   # column name in Table 1
    data_subdir='VOCdevkit/VOC2012',   # relative to tools/benchmark.py --data-root
    background=True,
    # paper mIoU (for reference only): TCL CVPR'23 Table 1 (PAMR); CoDe CVPR'24 Table 1 (PAMR);
    # TCL without PAMR as reported by MGCA (ECCV'24) for the official checkpoint; training-free (no PAMR): MaskCLIP as
    # re-run by SCLIP, SCLIP/ClearCLIP/NACLIP papers, NACLIP with PAMR its README.
    paper=dict(pamr={'TCL': 55.0, 'CoDe': 57.7, 'NACLIP': 64.07}, no_pamr={'TCL': 51.2, 'MaskCLIP': 43.4, 'SCLIP': 59.1,
                                        'ClearCLIP': 51.8, 'NACLIP': 58.9}),
    model=dict(vocabulary='{{fileDirname}}/../../vocab/voc21.txt'))
