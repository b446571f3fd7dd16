# CoDe (CVPR 2024), Table 1 / Table 2 row "+C+W+R": OpenAI ViT-B/16 on CC3M + CC12M, 224^2 crops, 16 per GPU x 4 GPUs
# (total 64 pairs = 128 noun triplets), 50k iterations, as the official code (ref-code-impl.md §3):
#   AdamW lr 5e-6 (= 3.2e-4 * 64 / 4096), betas (0.9, 0.999), eps 1e-6, wd 0.05 (none on 1-D tensors and biases;
#   0-d scalars, ctx, P_v and P_t are decayed, as the official code); linear warmup from factor 1e-4 over 15k
#   iterations, cosine to 6.25e-7 over the remaining 35k; grad-norm clip 5.0; AMP with `tools/train.py --amp`.
# Checkpoints every 5k iterations (last one kept); no model selection on test sets.
#   train:  bash tools/dist_train.sh configs/code/code_vitb16_cc.py 4 --amp
#   sweep:  ... --cfg-options model.loss_weights.hcl=0.25     (Table 3: 0.05, 0.1, 0.25, 0.5, 0.75, 1.0)
_base_ = [
    '../_base_/models/code_vitb16.py',
    '../_base_/datasets/cc3m_cc12m.py',
    '../_base_/default_runtime.py',
]

total_iters = 50000
warmup_iters = 15000
base_lr = 5e-6            # 3.2e-4 * 64 / 4096
min_lr = 6.25e-7          # 4e-5 * 64 / 4096

train_dataloader = dict(batch_size=16)   # per GPU, 4 GPUs

optim_wrapper = dict(
    constructor='SummaryOptimWrapperConstructor',  # log a summary of the parameter groups
    type='OptimWrapper',                 # --amp switches it to AmpOptimWrapper (fp16 autocast + dynamic loss scale)
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=dict(max_norm=5.0, norm_type=2))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, end_factor=1.0, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=total_iters - warmup_iters, eta_min=min_lr, by_epoch=False,
         begin=warmup_iters, end=total_iters),
]

train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_iters, val_interval=total_iters + 1)
# no test_cfg: MMEngine's Runner takes test_dataloader, test_cfg and test_evaluator together, and a training config
# has no test set (evaluate with configs/{code,tcl}/zeroshot/* or tools/benchmark.py).
# lr above is for a total batch of 64; `--auto-scale-lr` rescales it linearly for another total batch.
auto_scale_lr = dict(enable=False, base_batch_size=64)

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=1, save_last=True,
                    save_best=None))
custom_hooks = [dict(type='SkipCounterHook', interval=50), dict(type='UnfreezeBlockHook')]
