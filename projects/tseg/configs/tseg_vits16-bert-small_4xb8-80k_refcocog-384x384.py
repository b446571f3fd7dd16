# TSEG on RefCOCOg, UMD partition (paper Table 3: 22.05 mIoU val; 23.41 with CRF; the paper does not name the
# partition — umd is the one with a val/test split used by segmentation work).
_base_ = ['./tseg_vits16-bert-small_4xb8-80k_refcoco-384x384.py']
train_dataloader = dict(dataset=dict(dataset='refcocog', split_by='umd'))
val_dataloader = dict(dataset=dict(dataset='refcocog', split_by='umd'))
test_dataloader = val_dataloader
