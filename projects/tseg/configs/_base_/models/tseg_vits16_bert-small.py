# TSEG (Strudel et al.): ViT-S/16 (ImageNet, timm) + BERT-Small, projections to 1024, MPA pooling, λ=0.01, p=5.
# ViT-S/16 normalisation of timm's augreg weights: mean = std = 0.5 (×255).
data_preprocessor = dict(type='SegDataPreProcessor', mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5],
                         bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=(384, 384))
model = dict(
    type='TSEG',
    data_preprocessor=data_preprocessor,
    image_encoder=dict(type='TSEGViTEncoder', model_name='vit_small_patch16_384.augreg_in21k_ft_in1k',
                       pretrained=True, drop_path_rate=0.1),
    text_encoder=dict(type='TSEGBertTextEncoder', model_name='google/bert_uncased_L-4_H-512_A-8', pretrained=True,
                      max_length=40),
    similarity=dict(type='PatchTextSimilarity', embed_dim=1024, init_scale=10.0, learnable_scale=True),
    pooling=dict(type='MPAPooling', mode='mpa', s_bg=0.0, eps=1.0, lam=0.01, p=5.0),
    loss_cls=dict(type='TSEGSoftMarginLoss', class_reduction='mean'),
    supervision='weak',
    test_cfg=dict(threshold=None))
