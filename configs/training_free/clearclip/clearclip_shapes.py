# ClearCLIP training-free on the shapes CLIP and the synthetic shapes benchmark (the main job's data):
#   python tools/test.py configs/training_free/clearclip/clearclip_shapes.py none
_base_ = ['../training_free_shapes.py']
model = dict(decode_head=dict(last_block='clearclip', logit_scale=50.0))
benchmark_protocol = dict(name='ClearCLIP')
