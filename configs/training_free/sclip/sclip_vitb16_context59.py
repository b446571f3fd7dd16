# SCLIP (ECCV 2024): correlative self-attention softmax(q·qᵀ)+softmax(k·kᵀ), residual and FFN kept: zero-shot on context59, training-free (no checkpoint):
#   python tools/test.py configs/training_free/sclip/sclip_vitb16_context59.py none
#   with PAMR: --cfg-options model.test_cfg.pamr=True
# Data and test resize: configs/_base_/datasets/context59.py; windows, threshold, templates: sclip_vitb16.py and its base.
_base_ = ['./sclip_vitb16.py', '../../_base_/datasets/context59.py']
model = dict(vocabulary=_base_.benchmark.model.vocabulary)
test_cfg = dict(type='TestLoop')
