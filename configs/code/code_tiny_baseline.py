# Tiny variant of code_vitb16_cc_baseline.py (Table 2 baseline: image decomposition only).
_base_ = ['./code_tiny.py']
model = dict(co_decomposition=False, region_prompt=dict(learnable=False))
