# TCL (CVPR 2023) on OpenAI CLIP ViT-B/16 (ref-tcl.md "Spec for a re-implementation").
# Frozen fp32 CLIP (0 trainable); trainable: copy of the last ViT block (frozen for the first 30k iterations by
# UnfreezeBlockHook), GDecoder with 4 gated 3x3 convs (double=True), image_proj (copy of ln_post + proj),
# Sim2Mask w=10, b=-2.5, and the two InfoNCE temperatures.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],      # ImageNet mean/std (TCL and CoDe), not CLIP's
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=16)                     # training batches (fixed size, multiples of 16) pass unchanged

model = dict(
    type='TCL',
    data_preprocessor=data_preprocessor,
    clip=dict(type='OpenCLIP', model_name='ViT-B-16', pretrained='openai', frozen=True),
    text_encoder=dict(type='TextClassifier', templates='custom'),     # class names: TCL's 9-template ensemble
    decode_head=dict(
        type='ImageSegmenter',
        decoder=dict(type='GatedDecoder', n_layers=2, double=True, kernel_size=3),
        sim2mask=dict(type='Sim2Mask', init_w=10.0, init_b=-2.5, learnable=True, gumbel_tau=1.0),
        unfreeze_iter=30000),
    loss_seg=dict(
        type='TCLLoss',
        tcl_img_weight=0.1, tcl_feat_weight=0.1,
        area_prior=0.4, area_weight=0.4, neg_area_prior=0.0, neg_area_weight=0.4,
        tv_img_weight=1.0, tv_mask_weight=1.0,
        normalize_feats=False,
        infonce_img=dict(type='InfoNCE', init_temperature=0.07, max_logit_scale=100.0),
        infonce_feat=dict(type='InfoNCE', init_temperature=0.07, max_logit_scale=100.0, extended=True)),
    # TCL's evaluation protocol; a benchmark config (configs/_base_/datasets/<benchmark>.py) sets the vocabulary.
    test_cfg=dict(mode='slide', crop_size=(448, 448), stride=(224, 224), bg_thresh=None, pamr=True,
                  kp_weight=0.3, kp_templates='custom'))

# Experiment configs add dict(type='UnfreezeBlockHook') to custom_hooks: the copied block trains from iteration 30k,
# synchronised across DDP ranks (the hook drops its zero gradients before the optimizer step until then).
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=False)
