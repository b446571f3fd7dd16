# TSEG Table 1: GAP with ViT-S/16 and language-model class encoding (paper: 50.2 mIoU on VOC 2012 val).
_base_ = ['./tseg-spa-baseline_vits16-bert-small_4xb4-16k_voc12aug-384x384.py']
model = dict(pooling=dict(mode='gap'))
