# Tiny TSEG on the generated referring benchmark (CPU, about a minute): a 2-block timm ViT (patch 8) and the plugin's
# tiny open_clip text tower, random init. Same modules as the paper configs; sizes, optimiser and data differ.
#   python projects/tseg/tools/make_synthetic_refer.py --out data/tseg_shapes_refer
#   python tools/train.py projects/tseg/configs/tseg_tiny_shapes-refer.py
_base_ = [
    './_base_/models/tseg_vits16_bert-small.py', './_base_/datasets/synthetic_refer.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmseg_code', 'projects.tseg.tseg'], allow_failed_imports=False)
max_iters = 200
model = dict(
    data_preprocessor=dict(size=(64, 64)),
    image_encoder=dict(model_name='vit_small_patch16_224', pretrained=False, drop_path_rate=0.0,
                       model_kwargs=dict(embed_dim=64, depth=2, num_heads=2, patch_size=8, img_size=64)),
    text_encoder=dict(_delete_=True, type='TSEGCLIPTextEncoder', model_name='mmcode-tiny-vit-p16', pretrained=None),
    similarity=dict(embed_dim=64))
# Random-init tiny encoders learn far faster with AdamW than with the paper's SGD 1e-3 (kept in the paper configs).
optim_wrapper = dict(type='OptimWrapper', constructor='SummaryOptimWrapperConstructor',
                     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
                     clip_grad=dict(max_norm=5.0, norm_type=2))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1,
                                     save_best=None),
                     visualization=dict(type='SegVisualizationHook', draw=False))
