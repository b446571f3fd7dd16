# Table 2, first row (avg 29.8): image decomposition only -- TCL's image segmenter and loss driven by KgCoOp noun
# prompts (+ L_kg), CoDe's weights; no text segmenter, no highlighting (the masked-out region is the zero blank).
_base_ = ['./code_vitb16_cc.py']

model = dict(co_decomposition=False, region_prompt=dict(learnable=False))
