# MaskCLIP (ECCV 2022): the value path, residual and FFN kept; training-free on OpenAI CLIP ViT-B/16
# (formula: mmseg_code/models/training_free/maskclip.py). Model config without a dataset:
#   python tools/benchmark.py configs/training_free/maskclip/maskclip_vitb16.py none --data-root data
# One benchmark: configs/training_free/maskclip/maskclip_vitb16_<benchmark>.py (python tools/test.py CONFIG none).
_base_ = ['../../_base_/models/training_free_vitb16.py', '../../_base_/default_runtime.py']
model = dict(decode_head=dict(last_block='maskclip', logit_scale=40.0))
benchmark_protocol = dict(name='MaskCLIP')    # tools/benchmark.py's row label
