# Tiny variant of code_vitb16_cc_c.py (Table 2 "+C": both highlighting prompts off).
_base_ = ['./code_tiny.py']
model = dict(region_prompt=dict(learnable=False), word_prompt=dict(learnable=False))
