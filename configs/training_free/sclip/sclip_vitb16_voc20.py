# SCLIP zero-shot on voc20, training-free (no checkpoint; method: sclip_vitb16.py):
#   python tools/test.py configs/training_free/sclip/sclip_vitb16_voc20.py none
#   with PAMR: --cfg-options model.test_cfg.pamr=True
# Data and test resize: configs/_base_/datasets/voc20.py; windows, threshold, templates: the model base.
_base_ = ['./sclip_vitb16.py', '../../_base_/datasets/voc20.py']
model = dict(vocabulary=_base_.benchmark.model.vocabulary)
test_cfg = dict(type='TestLoop')
