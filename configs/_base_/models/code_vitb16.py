# CoDe (CVPR 2024) on OpenAI CLIP ViT-B/16, as the official code trains it (ref-code-impl.md "Spec for a
# re-implementation"). Frozen fp32 CLIP (0 trainable parameters). Trainable (17,519,113 before the unfreeze):
#   image segmenter F_v: GDecoder with 2 gated 3x3 convs (double=False) 10,621,442 + image_proj 394,752 + Sim2Mask w/b;
#     the copied last ViT block (7,087,872) trains from iteration 30k (UnfreezeBlockHook, DDP-synchronised);
#   KgCoOp context 16x512 = 8,192; text segmenter F_t: 2 CLIP residual attention blocks 6,304,768 + w/b;
#   P_v 1x3x224x224 = 150,528; P_t 77x512 = 39,424; 3 InfoNCE temperatures (TCL_v, TCL_f, L_hcl).
# Paper-text alternatives are options of the same modules (configs/code/code_vitb16_cc_paper.py selects them all).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],      # ImageNet mean/std (official CoDe/TCL), not CLIP's
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=16,                     # training batches: mmseg's stack_batch needs size or size_divisor
    pad_val=0,
    seg_pad_val=255)

model = dict(
    type='CoDe',
    data_preprocessor=data_preprocessor,
    clip=dict(type='OpenCLIP', model_name='ViT-B-16', pretrained='openai', frozen=True),
    # n_j: [SOT] + 16 learnable ctx ("a photo of x..x") + noun + [EOT]; n'_j: a random one of the 80 ImageNet templates.
    # The same noun prompt encodes the bare class names at inference (the text classifier of the segmentor).
    text_encoder=dict(
        type='KgCoOpTextClassifier',
        noun_prompt=dict(type='KgCoOpNounPrompt', n_ctx=16, ctx_init='a photo of' + ' x' * 50,
                         kg_templates='imagenet80', seed=0)),
    decode_head=dict(
        type='ImageSegmenter',
        decoder=dict(type='GatedDecoder', n_layers=2, double=False, kernel_size=3),   # paper text: TCL's double=True
        sim2mask=dict(type='Sim2Mask', init_w=10.0, init_b=-2.5, learnable=True, gumbel_tau=1.0),
        unfreeze_iter=30000),
    # L^v_seg = TCL's terms with CoDe's official weights (paper text: TCL's own, prior 0.4 x 0.4 on both areas).
    loss_seg=dict(
        type='TCLLoss',
        tcl_img_weight=0.1, tcl_feat_weight=0.1,
        area_prior=0.25, area_weight=0.5, neg_area_prior=0.0, neg_area_weight=0.05,
        tv_img_weight=1.0, tv_mask_weight=1.0,
        normalize_feats=True,
        infonce_img=dict(type='InfoNCE', init_temperature=0.07, max_logit_scale=100.0),
        infonce_feat=dict(type='InfoNCE', init_temperature=0.07, max_logit_scale=100.0, extended=True)),
    kg_loss=dict(type='KgLoss', form='cos'),                              # 1 - cos (= 1/2 ||n - n'||^2)
    co_decomposition=True,
    text_segmenter=dict(type='TextSegmenter', num_layers=2, num_heads=8, mlp_ratio=4.0, attn_mask='none',
                        init_scale=10.0, init_bias=0.0, proj=False),
    text_seg_loss=dict(type='TextSegLoss', label_source='word_labels', bg_weight=0.5),
    region_prompt=dict(type='RegionHighlightPrompt', size=(224, 224), learnable=True),      # P_v
    word_prompt=dict(type='WordHighlightPrompt', mode='per_position', learnable=True),      # P_t (77 x 512)
    hcl_loss=dict(type='InfoNCE', init_temperature=0.07, max_logit_scale=100.0),
    # Eq. 8; the lambda_hcl sweep of Table 3: --cfg-options model.loss_weights.hcl=0.25
    loss_weights=dict(kg=8.0, seg_img=1.0, seg_txt=1.0, hcl=0.5),
    # Inference uses only the image segmenter (decode head) with KgCoOp-prompted bare class names (TCL's protocol otherwise);
    # a benchmark config (configs/_base_/datasets/<benchmark>.py) sets the vocabulary.
    test_cfg=dict(mode='slide', crop_size=(448, 448), stride=(224, 224), bg_thresh=None, pamr=True,
                  kp_weight=0.3, kp_templates='custom'))

model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=False)
