# TSEG Table 1 (weakly-supervised PASCAL VOC 2012 val, single-stage baselines with the class names encoded by the
# language model): SPA with ViT-S/16 (paper: 66.4 mIoU, with multi-scale inference + dense CRF). Sec. 4.1: 16K
# iterations, batch 16 (4 GPUs × 4), SGD γ0 = 1e-3 with poly decay. Test: the 20 class names for every image, SPA's
# argmax over [background, masks]. Multi-scale inference is not reproduced (single scale); CRF: add
# --cfg-options model.test_cfg.crf=True (pydensecrf2).
_base_ = [
    './_base_/models/tseg_vits16_bert-small.py', './_base_/datasets/voc12aug_weak.py',
    './_base_/schedules/sgd_poly_80k.py',
]
custom_imports = dict(imports=['mmseg_code', 'projects.tseg.tseg'], allow_failed_imports=False)
max_iters = 16000
model = dict(pooling=dict(mode='spa'), test_cfg=dict(class_names={{_base_.voc_classes}}))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
auto_scale_lr = dict(enable=False, base_batch_size=16)
