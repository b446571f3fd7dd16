# TSEG on RefCOCO+ (paper Table 3: 22.01 mIoU val; 22.62 with CRF).
_base_ = ['./tseg_vits16-bert-small_4xb8-80k_refcoco-384x384.py']
train_dataloader = dict(dataset=dict(dataset='refcoco+'))
val_dataloader = dict(dataset=dict(dataset='refcoco+'))
test_dataloader = val_dataloader
