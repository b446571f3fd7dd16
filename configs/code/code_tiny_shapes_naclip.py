# CoDe on the shapes CLIP (code_tiny_shapes.py) with NACLIP's attention in the trainable copy of the last block
# (mmseg_code/models/training_free/naclip.py; sigma 5 patches over the 8x8 grid of a 64 px image).
_base_ = ['./code_tiny_shapes.py']

model = dict(decode_head=dict(last_block='naclip'))
