# MGCA (ECCV 2024) model on OpenAI CLIP ViT-B/16: frozen image and text encoders, trainable pixel decoder D_v
# (x2 nearest upsampling + 2 gated 3x3 conv blocks of TCL at C=512: 4,721,666 parameters, the paper's 4.72M),
# three contrastive levels (k=0.4, k_n=0.05, k_pix=0.06, f=5*sqrt(512), tau=0.07 fixed, weights 1:1:1).
# Inference: 36 meta-points per window (adaptive semantic units), softmax(cos/0.07) over the classes, no PAMR.
# (experiment configs set custom_imports = dict(imports=['mmseg_code', 'projects.mgca.mgca']))

data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],      # ImageNet mean/std as TCL's code (MGCA builds on TCL; the paper is silent)
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=16,
    pad_val=0,
    seg_pad_val=255)

model = dict(
    type='MGCA',
    data_preprocessor=data_preprocessor,
    clip=dict(type='OpenCLIP', model_name='ViT-B-16', pretrained='openai', frozen=True),
    text_encoder=dict(type='TextClassifier', templates='custom'),     # TCL's text prompts for the class names
    decode_head=dict(
        type='MGCAHead',                                                   # D_v + meta-point inference
        decoder=dict(type='GatedDecoder', n_layers=1, double=True, kernel_size=3)),
    loss_mgca=dict(
        type='MGCALoss', k=0.4, k_n=0.05, k_pix=0.06, scale=None,          # scale None -> f = 5 * sqrt(C)
        loss_obj=dict(type='MGCAObjectLoss', temperature=0.07, loss_weight=1.0),
        loss_reg=dict(type='MGCARegionLoss', temperature=0.07, loss_weight=1.0),
        loss_pix=dict(type='MGCAPixelLoss', temperature=0.07, loss_weight=1.0)),
    # TCL's unified protocol (short side 448, 448 windows, stride 224); a benchmark config sets the vocabulary.
    # bg_thresh None -> 0.5 without PAMR (0.4 with), on the softmax-normalised class scores (README choice 15).
    # units='image': the 36 semantic units are formed on the windows' stitched pixel embeddings, "36 semantic units
    # per image" (Sec. 4.1); 'window' forms them per sliding window.
    test_cfg=dict(mode='slide', crop_size=(448, 448), stride=(224, 224), num_units=36, units='image',
                  temperature=0.07, bg_thresh=None, pamr=False, kp_weight=0.0))

model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=False)
