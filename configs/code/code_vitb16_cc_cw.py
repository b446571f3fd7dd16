# Table 2, "+C+W" (avg 31.3): co-decomposition with the word highlighting prompt P_t; region prompt off (blank).
# The "+C+W+R" row is the main config code_vitb16_cc.py.
_base_ = ['./code_vitb16_cc.py']

model = dict(region_prompt=dict(learnable=False))
