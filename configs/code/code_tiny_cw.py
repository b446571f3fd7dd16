# Tiny variant of code_vitb16_cc_cw.py (Table 2 "+C+W": region prompt off).
_base_ = ['./code_tiny.py']
model = dict(region_prompt=dict(learnable=False))
