# CoDe on a training-free last block: the trainable copy of CLIP's last block (the image segmenter's) runs
# SCLIP's attention (mmseg_code/models/training_free/sclip.py) instead of MaskCLIP's self-only value path;
# everything else is code_vitb16_cc.py. Compare with configs/training_free/sclip/ (the frozen block, no training).
# Any CoDe/TCL config takes the same option: --cfg-options model.decode_head.last_block=sclip
_base_ = ['./code_vitb16_cc.py']

model = dict(decode_head=dict(last_block='sclip'))
