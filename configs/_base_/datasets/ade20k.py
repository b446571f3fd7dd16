# ADE20K val (2,000 images), 150 classes, no background (mmseg ``ADE20KDataset``, label 0 "other" ignored).
# Protocol (resize, sliding window, PAMR, KP, background rule): zeroshot_protocol.py.
_base_ = ['./zeroshot_protocol.py']

dataset_type = 'ADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'

test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        reduce_zero_label=True))
val_dataloader = test_dataloader

benchmark = dict(
    name='ade20k',
    title='ADE',                   # column name in Table 1
    data_subdir='ade/ADEChallengeData2016',   # relative to tools/benchmark.py --data-root
    background=False,
    # paper mIoU (for reference only): TCL CVPR'23 Table 1 (PAMR); CoDe CVPR'24 Table 1 (PAMR);
    # TCL without PAMR as reported by MGCA (ECCV'24) for the official checkpoint; training-free (no PAMR): MaskCLIP as
    # re-run by SCLIP, SCLIP/ClearCLIP/NACLIP papers, NACLIP with PAMR its README.
    paper=dict(pamr={'TCL': 17.1, 'CoDe': 17.7, 'NACLIP': 19.05}, no_pamr={'TCL': 14.9, 'MaskCLIP': 11.9, 'SCLIP': 16.1,
                                        'ClearCLIP': 16.7, 'NACLIP': 17.4}),
    model=dict(vocabulary='{{fileDirname}}/../../vocab/ade20k.txt'))
