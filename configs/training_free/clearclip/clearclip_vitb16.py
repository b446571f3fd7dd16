# ClearCLIP (ECCV 2024): query-query attention, no residual, no FFN; training-free on OpenAI CLIP ViT-B/16
# (formula: mmseg_code/models/training_free/clearclip.py). Model config without a dataset:
#   python tools/benchmark.py configs/training_free/clearclip/clearclip_vitb16.py none --data-root data
# One benchmark: configs/training_free/clearclip/clearclip_vitb16_<benchmark>.py (python tools/test.py CONFIG none).
_base_ = ['../../_base_/models/training_free_vitb16.py', '../../_base_/default_runtime.py']
model = dict(decode_head=dict(last_block='clearclip', logit_scale=50.0))
benchmark_protocol = dict(name='ClearCLIP')    # tools/benchmark.py's row label
