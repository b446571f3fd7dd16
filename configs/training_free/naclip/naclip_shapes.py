# NACLIP training-free on the shapes CLIP and the synthetic shapes benchmark (the main job's data):
#   python tools/test.py configs/training_free/naclip/naclip_shapes.py none
_base_ = ['../training_free_shapes.py']
model = dict(decode_head=dict(last_block='naclip', logit_scale=40.0))
benchmark_protocol = dict(name='NACLIP')
