# COCO-Stuff-164k val2017 (5,000 images), 171 classes, no background (mmseg ``COCOStuffDataset``,
# ``*_labelTrainIds.png`` from mmseg's tools/dataset_converters/coco_stuff164k.py).
# Protocol (resize, sliding window, PAMR, KP, background rule): zeroshot_protocol.py.
_base_ = ['./zeroshot_protocol.py']

dataset_type = 'COCOStuffDataset'
data_root = 'data/coco_stuff164k'

test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
        reduce_zero_label=False))
val_dataloader = test_dataloader

benchmark = dict(
    name='coco_stuff171',
    title='Stuff',                 # column name in Table 1
    data_subdir='coco_stuff164k',   # relative to tools/benchmark.py --data-root
    background=False,
    # paper mIoU (for reference only): TCL CVPR'23 Table 1 (PAMR); CoDe CVPR'24 Table 1 (PAMR);
    # TCL without PAMR as reported by MGCA (ECCV'24) for the official checkpoint; training-free (no PAMR): MaskCLIP as
    # re-run by SCLIP, SCLIP/ClearCLIP/NACLIP papers, NACLIP with PAMR its README.
    paper=dict(pamr={'TCL': 22.4, 'CoDe': 23.9, 'NACLIP': 25.69}, no_pamr={'TCL': 19.6, 'MaskCLIP': 16.7, 'SCLIP': 22.4,
                                        'ClearCLIP': 23.9, 'NACLIP': 23.3}),
    model=dict(vocabulary='{{fileDirname}}/../../vocab/coco_stuff171.txt'))
