# Table 3 baseline: SPA pooling instead of MPA (paper: GMP 5.77, GAP 9.35, SPA 21.12 mIoU on PhraseCut val).
_base_ = ['./tseg_vits16-bert-small_4xb8-120k_phrasecut-384x384.py']
model = dict(pooling=dict(mode='spa'))
