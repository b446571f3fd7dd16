# NACLIP (WACV 2025): key-key attention + neighbourhood Gaussian prior (σ 5), no residual, no FFN: zero-shot on cityscapes, training-free (no checkpoint):
#   python tools/test.py configs/training_free/naclip/naclip_vitb16_cityscapes.py none
#   with PAMR: --cfg-options model.test_cfg.pamr=True
# Data and test resize: configs/_base_/datasets/cityscapes.py; windows, threshold, templates: naclip_vitb16.py and its base.
_base_ = ['./naclip_vitb16.py', '../../_base_/datasets/cityscapes.py']
model = dict(vocabulary=_base_.benchmark.model.vocabulary)
test_cfg = dict(type='TestLoop')
