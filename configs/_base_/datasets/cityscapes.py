# Cityscapes val (500 images, 2048x1024 -> 896x448), 19 classes, no background (mmseg ``CityscapesDataset``,
# ``*_gtFine_labelTrainIds.png`` from mmseg's tools/dataset_converters/cityscapes.py).
# Protocol (resize, sliding window, PAMR, KP, background rule): zeroshot_protocol.py.
_base_ = ['./zeroshot_protocol.py']

dataset_type = 'CityscapesDataset'
data_root = 'data/cityscapes'

test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        reduce_zero_label=False))
val_dataloader = test_dataloader

benchmark = dict(
    name='cityscapes',
    title='City',                  # column name in Table 1
    data_subdir='cityscapes',   # relative to tools/benchmark.py --data-root
    background=False,
    # paper mIoU (for reference only): TCL CVPR'23 Table 1 (PAMR); CoDe CVPR'24 Table 1 (PAMR);
    # TCL without PAMR as reported by MGCA (ECCV'24) for the official checkpoint; training-free (no PAMR): MaskCLIP as
    # re-run by SCLIP, SCLIP/ClearCLIP/NACLIP papers, NACLIP with PAMR its README.
    paper=dict(pamr={'TCL': 24.0, 'CoDe': 28.9, 'NACLIP': 38.27}, no_pamr={'TCL': 23.1, 'MaskCLIP': 24.9, 'SCLIP': 32.2,
                                        'ClearCLIP': 30.0, 'NACLIP': 35.5}),
    model=dict(vocabulary='{{fileDirname}}/../../vocab/cityscapes.txt'))
