# SCLIP zero-shot on coco_object, training-free (no checkpoint; method: sclip_vitb16.py):
#   python tools/test.py configs/training_free/sclip/sclip_vitb16_coco_object.py none
#   with PAMR: --cfg-options model.test_cfg.pamr=True
# Data and test resize: configs/_base_/datasets/coco_object.py; windows, threshold, templates: the model base.
_base_ = ['./sclip_vitb16.py', '../../_base_/datasets/coco_object.py']
model = dict(vocabulary=_base_.benchmark.model.vocabulary)
test_cfg = dict(type='TestLoop')
