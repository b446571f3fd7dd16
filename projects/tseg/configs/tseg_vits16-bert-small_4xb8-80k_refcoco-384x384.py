# TSEG on RefCOCO (paper Table 3: 25.44 mIoU val; 25.95 with CRF): 80K iterations, batch 32 (4 GPUs × 8).
_base_ = [
    './_base_/models/tseg_vits16_bert-small.py', './_base_/datasets/refcoco.py',
    './_base_/schedules/sgd_poly_80k.py',  # includes configs/_base_/default_runtime.py
]
custom_imports = dict(imports=['mmseg_code', 'projects.tseg.tseg'], allow_failed_imports=False)
auto_scale_lr = dict(enable=False, base_batch_size=32)
