# CoDe (CVPR 2024) on OpenAI CLIP ViT-B/16, as the official code trains it (072jiajia/Image-Text-Co-Decomposition,
# configs/experiment_configs.yml over configs/default.yml; models/tcl/codecomposition.py). CoDe is TCL plus noun
# prompts, a text segmenter and highlighting (CoDe Sec. 3), so this file takes TCL's model (tcl_vitb16.py: frozen
# CLIP, data preprocessor, Sim2Mask, the evaluation protocol, DDP wrapper) and states only what differs.
# Trainable (17,519,113 before the unfreeze):
#   image segmenter F_v: GDecoder with 2 gated 3x3 convs (double=False) 10,621,442 + image_proj 394,752 + Sim2Mask w/b;
#     the copied last ViT block (7,087,872) trains from iteration 30k (UnfreezeBlockHook, DDP-synchronised);
#   KgCoOp context 16x512 = 8,192; text segmenter F_t: 2 CLIP residual attention blocks 6,304,768 + w/b;
#   P_v 1x3x224x224 = 150,528; P_t 77x512 = 39,424; 3 InfoNCE temperatures (TCL_v, TCL_f, L_hcl).
# Paper-text alternatives are options of the same modules (configs/code/code_vitb16_cc_paper.py selects them all).
_base_ = ['./tcl_vitb16.py']

model = dict(
    type='CoDe',
    # n_j: [SOT] + 16 learnable ctx ("a photo of x..x") + noun + [EOT]; n'_j: a random one of the 80 ImageNet templates.
    # The same noun prompt encodes the bare class names at inference (the text classifier of the segmentor).
    text_encoder=dict(
        _delete_=True,
        type='KgCoOpTextClassifier',
        noun_prompt=dict(type='KgCoOpNounPrompt', n_ctx=16, ctx_init='a photo of' + ' x' * 50,
                         kg_templates='imagenet80', seed=0)),
    decode_head=dict(decoder=dict(double=False)),                      # paper text: TCL's double=True
    # L^v_seg = TCL's terms with CoDe's official weights (paper text: TCL's own, prior 0.4 x 0.4 on both areas).
    loss_seg=dict(area_prior=0.25, area_weight=0.5, neg_area_weight=0.05, normalize_feats=True),
    kg_loss=dict(type='KgLoss', form='cos'),                              # 1 - cos (= 1/2 ||n - n'||^2)
    co_decomposition=True,
    text_segmenter=dict(type='TextSegmenter', num_layers=2, num_heads=8, mlp_ratio=4.0, attn_mask='none',
                        init_scale=10.0, init_bias=0.0, proj=False),
    text_seg_loss=dict(type='TextSegLoss', label_source='word_labels', bg_weight=0.5),
    region_prompt=dict(type='RegionHighlightPrompt', size=(224, 224), learnable=True),      # P_v
    word_prompt=dict(type='WordHighlightPrompt', mode='per_position', learnable=True),      # P_t (77 x 512)
    hcl_loss=dict(type='InfoNCE', init_temperature=0.07, max_logit_scale=100.0),
    # Eq. 8; the lambda_hcl sweep of Table 3: --cfg-options model.loss_weights.hcl=0.25
    loss_weights=dict(kg=8.0, seg_img=1.0, seg_txt=1.0, hcl=0.5))
# Inference uses only the image segmenter (decode head) with KgCoOp-prompted bare class names and TCL's protocol
# (test_cfg of tcl_vitb16.py); a benchmark config (configs/_base_/datasets/<benchmark>.py) sets the vocabulary.
