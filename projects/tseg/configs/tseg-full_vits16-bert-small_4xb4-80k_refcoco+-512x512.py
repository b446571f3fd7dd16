# Fully-supervised upper bound on RefCOCO+ (paper Sec. 4.4: 55.35 mIoU val; VLT 55.50).
_base_ = ['./tseg-full_vits16-bert-small_4xb4-80k_refcoco-512x512.py']
train_dataloader = dict(dataset=dict(dataset='refcoco+'))
val_dataloader = dict(dataset=dict(dataset='refcoco+'))
test_dataloader = val_dataloader
