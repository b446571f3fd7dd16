# The shapes CLIP's optimisation (configs/clip_pretrain/shapes_clip_vit.py): AdamW lr 1e-3 (0.9, 0.98), weight decay
# 0.1 except gains/biases/embeddings/temperature, grad-norm clip 1.0; 5 % linear warm-up, then cosine to 0 at 4000
# iterations; validation every 500.
total_iters = 4000
warmup_iters = 200

optim_wrapper = dict(
    type='OptimWrapper',
    constructor='SummaryOptimWrapperConstructor',  # log a summary of the parameter groups
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.1),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0,
                       custom_keys={'embedding': dict(decay_mult=0.0), 'logit_scale': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / warmup_iters, end_factor=1.0, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=total_iters - warmup_iters, eta_min=0.0, by_epoch=False,
         begin=warmup_iters, end=total_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_iters, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
