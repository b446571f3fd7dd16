# CoDe ViT-B/16 zero-shot on context60 with the official protocol (configs/_base_/datasets/context60.py):
#   python tools/test.py configs/code/zeroshot/code_vitb16_context60.py CHECKPOINT
#   without PAMR: --cfg-options model.test_cfg.pamr=False model.test_cfg.bg_thresh=0.5
_base_ = ['../../_base_/models/code_vitb16.py', '../../_base_/datasets/context60.py', '../../_base_/default_runtime.py']
model = _base_.benchmark.model
test_cfg = dict(type='TestLoop')
