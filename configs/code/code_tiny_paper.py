# Tiny variant of code_vitb16_cc_paper.py (every paper-text option).
_base_ = ['./code_tiny.py']
model = dict(
    decode_head=dict(decoder=dict(double=True)),
    loss_seg=dict(area_prior=0.4, area_weight=0.4, neg_area_prior=0.0, neg_area_weight=0.4, normalize_feats=False),
    text_encoder=dict(noun_prompt=dict(kg_templates='photo')),
    kg_loss=dict(form='sq'),
    text_seg_loss=dict(label_source='argmax', bg_weight=1.0),
    word_prompt=dict(mode='single'))
