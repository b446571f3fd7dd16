# CoDe with every choice taken from the paper's text where it differs from the official code (ref-code-impl.md §6):
#   L_kg = ||n - n'||^2 with n' from "a photo of a {N}."        (official: 1 - cos, random ImageNet template)
#   L^t_seg labels = argmax self-labels over the J+1 word classes (official: noun-token labels from the data),
#     plain CE (no 0.5 class weight: the paper gives none)
#   P_t = one universal vector                                  (official: one vector per token position)
#   image segmenter = TCL's (4 gated convs, double=True) with TCL's own loss weights (area prior 0.4 x 0.4 on both,
#     unnormalised features)                                     (official: 2 convs, prior 0.25 x 0.5 / 0 x 0.05)
# Everything else (schedule, data, highlighting, lambdas of Eq. 8) is the main config's.
_base_ = ['./code_vitb16_cc.py']

model = dict(
    decode_head=dict(decoder=dict(double=True)),
    loss_seg=dict(area_prior=0.4, area_weight=0.4, neg_area_prior=0.0, neg_area_weight=0.4, normalize_feats=False),
    text_encoder=dict(noun_prompt=dict(kg_templates='photo')),
    kg_loss=dict(form='sq'),
    text_seg_loss=dict(label_source='argmax', bg_weight=1.0),
    word_prompt=dict(mode='single'))
