# TCL's optimisation (ref-tcl.md §3): AdamW (0.9, 0.999), eps 1e-6, wd 0.05 with no decay on 1-D tensors and
# biases (0-d scalars such as gates, w/b and temperatures are decayed, as the official code does), lr scaled
# linearly 3e-4 * B / 4096 -> 7.5e-5 at B = 1024 (min 4e-5 * B / 4096 -> 1e-5), linear warmup from factor 1e-4
# over 15k iterations then cosine over 35k, 50k iterations, grad-norm clip 5.0, fp16 AMP (`--amp`).
total_iters = 50000
warmup_iters = 15000
base_lr = 7.5e-5
min_lr = 1e-5

optim_wrapper = dict(
    constructor='SummaryOptimWrapperConstructor',  # log a summary of the parameter groups
    type='OptimWrapper',  # the official fp16 AMP: `tools/train.py --amp` (AmpOptimWrapper, dynamic loss scale)
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=dict(max_norm=5.0, norm_type=2))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, end_factor=1.0, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=total_iters - warmup_iters, eta_min=min_lr, by_epoch=False,
         begin=warmup_iters, end=total_iters),
]

# No validation during training by default (checkpoints are evaluated afterwards with tools/test.py or
# tools/benchmark.py); an experiment may add val_cfg/val_dataloader/val_evaluator on a held-out split.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_iters, val_interval=total_iters + 1)
# no test_cfg: MMEngine's Runner takes test_dataloader, test_cfg and test_evaluator together, and a training config
# has no test set (evaluate with configs/{code,tcl}/zeroshot/* or tools/benchmark.py).

# lr above is for a total batch of 1024; `--auto-scale-lr` rescales it linearly for another total batch.
auto_scale_lr = dict(enable=False, base_batch_size=1024)
