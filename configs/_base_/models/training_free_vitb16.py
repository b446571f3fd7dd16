# Training-free segmentation on the frozen OpenAI CLIP ViT-B/16 (TrainingFreeSegmentor): CLIP's own last block with a
# training-free attention (decode_head.last_block: 'maskclip' | 'sclip' | 'clearclip' | 'naclip'; formulas in
# mmseg_code/models/training_free/<method>.py), softmax(logit_scale * cos) over the vocabulary's synonyms.
# No trainable weights, no checkpoint: python tools/test.py CONFIG none.
# Shared with TCL/CoDe: OpenCLIP, the text classifier (here CLIP's 80 ImageNet templates, as SCLIP/ClearCLIP/NACLIP),
# mmseg's sliding window, the background plane, PAMR (off by default; --cfg-options model.test_cfg.pamr=True).
# One protocol for every benchmark (not tuned per benchmark): the TCL/CoDe test resize (short side 448) and windows
# (448, stride 224), background iff the best class probability <= 0.1 (SCLIP's and NACLIP's prob_thd).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[122.771, 116.746, 104.094],    # CLIP's mean/std (the training-free methods' own), x255
    std=[68.501, 66.632, 70.323],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)

model = dict(
    type='TrainingFreeSegmentor',
    data_preprocessor=data_preprocessor,
    clip=dict(type='OpenCLIP', model_name='ViT-B-16', pretrained='openai', frozen=True),
    text_encoder=dict(type='TextClassifier', templates='imagenet80'),
    decode_head=dict(type='TrainingFreeHead', last_block='maskclip', logit_scale=40.0, sigma=5.0, upsample=4),
    test_cfg=dict(mode='slide', crop_size=(448, 448), stride=(224, 224), pamr=False, bg_thresh=0.1, kp_weight=0.0))

# tools/benchmark.py: applied after the benchmark's TCL/CoDe protocol (which sets PAMR's bg_thresh 0.4/0.5 and the KP
# mix 0.3): this method keeps its probability threshold and has no KP branch; the table says it is not tuned per
# benchmark.
benchmark_protocol = dict(test_cfg=dict(kp_weight=0.0, bg_thresh=0.1), tuned_per_benchmark=False)
