# COCO-Object val2017 (5,000 images), 81 classes: background + 80 things (``COCOObjectDataset`` of this plugin;
# labels ``*_instanceTrainIds.png`` from tools/dataset_converters/coco_object.py).
# Protocol (resize, sliding window, PAMR, KP, background rule): zeroshot_protocol.py.
_base_ = ['./zeroshot_protocol.py']

dataset_type = 'COCOObjectDataset'
data_root = 'data/coco_stuff164k'

test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
        reduce_zero_label=False))
val_dataloader = test_dataloader

benchmark = dict(
    name='coco_object',
    title='Object',                # column name in Table 1
    data_subdir='coco_stuff164k',   # relative to tools/benchmark.py --data-root
    background=True,
    # paper mIoU (for reference only): TCL CVPR'23 Table 1 (PAMR); CoDe CVPR'24 Table 1 (PAMR);
    # TCL without PAMR as reported by MGCA (ECCV'24) for the official checkpoint; training-free (no PAMR): MaskCLIP as
    # re-run by SCLIP, SCLIP/ClearCLIP/NACLIP papers, NACLIP with PAMR its README.
    paper=dict(pamr={'TCL': 31.6, 'CoDe': 32.3, 'NACLIP': 36.19}, no_pamr={'TCL': 30.4, 'MaskCLIP': 20.6, 'SCLIP': 30.5,
                                        'ClearCLIP': 33.0, 'NACLIP': 33.2}),
    model=dict(vocabulary='{{fileDirname}}/../../vocab/coco_object.txt'))
