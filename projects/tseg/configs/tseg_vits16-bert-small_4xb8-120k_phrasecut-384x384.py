# TSEG on PhraseCut (paper Table 3: 28.77 mIoU val; 30.12 with CRF): 120K iterations, batch 32 (4 GPUs × 8).
_base_ = [
    './_base_/models/tseg_vits16_bert-small.py', './_base_/datasets/phrasecut.py',
    './_base_/schedules/sgd_poly_80k.py',  # includes configs/_base_/default_runtime.py
]
custom_imports = dict(imports=['mmseg_code', 'projects.tseg.tseg'], allow_failed_imports=False)
max_iters = 120000
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=12000)
auto_scale_lr = dict(enable=False, base_batch_size=32)
