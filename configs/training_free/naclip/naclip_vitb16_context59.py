# NACLIP zero-shot on context59, training-free (no checkpoint; method: naclip_vitb16.py):
#   python tools/test.py configs/training_free/naclip/naclip_vitb16_context59.py none
#   with PAMR: --cfg-options model.test_cfg.pamr=True
# Data and test resize: configs/_base_/datasets/context59.py; windows, threshold, templates: the model base.
_base_ = ['./naclip_vitb16.py', '../../_base_/datasets/context59.py']
model = dict(vocabulary=_base_.benchmark.model.vocabulary)
test_cfg = dict(type='TestLoop')
