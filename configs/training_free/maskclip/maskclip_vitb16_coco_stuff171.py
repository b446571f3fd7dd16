# MaskCLIP zero-shot on coco_stuff171, training-free (no checkpoint; method: maskclip_vitb16.py):
#   python tools/test.py configs/training_free/maskclip/maskclip_vitb16_coco_stuff171.py none
#   with PAMR: --cfg-options model.test_cfg.pamr=True
# Data and test resize: configs/_base_/datasets/coco_stuff171.py; windows, threshold, templates: the model base.
_base_ = ['./maskclip_vitb16.py', '../../_base_/datasets/coco_stuff171.py']
model = dict(vocabulary=_base_.benchmark.model.vocabulary)
test_cfg = dict(type='TestLoop')
