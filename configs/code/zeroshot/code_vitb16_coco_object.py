# CoDe ViT-B/16 zero-shot on coco_object with the official protocol (configs/_base_/datasets/coco_object.py):
#   python tools/test.py configs/code/zeroshot/code_vitb16_coco_object.py CHECKPOINT
#   without PAMR: --cfg-options model.test_cfg.pamr=False model.test_cfg.bg_thresh=0.5
_base_ = ['../../_base_/models/code_vitb16.py', '../../_base_/datasets/coco_object.py', '../../_base_/default_runtime.py']
model = _base_.benchmark.model
test_cfg = dict(type='TestLoop')
