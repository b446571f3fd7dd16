# Table 2, "+C" (avg 31.0): co-decomposition (text segmenter, L^t_seg, L_hcl) with both highlighting prompts off:
# the masked-out region / words are blanks (mean colour / zero token vectors), never trained.
_base_ = ['./code_vitb16_cc.py']

model = dict(region_prompt=dict(learnable=False), word_prompt=dict(learnable=False))
