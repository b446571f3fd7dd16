# Fully-supervised upper bound on RefCOCOg, UMD partition (paper Sec. 4.4: 54.71 mIoU val; VLT 52.99).
_base_ = ['./tseg-full_vits16-bert-small_4xb4-80k_refcoco-512x512.py']
train_dataloader = dict(dataset=dict(dataset='refcocog', split_by='umd'))
val_dataloader = dict(dataset=dict(dataset='refcocog', split_by='umd'))
test_dataloader = val_dataloader
