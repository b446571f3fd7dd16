# CoDe's optimisation (official 072jiajia/Image-Text-Co-Decomposition, configs/experiment_configs.yml over
# configs/default.yml): TCL's schedule (tcl_50k.py: AdamW, warmup 15k, cosine to 50k, grad clip 5.0) at CoDe's total
# batch of 64 pairs (16 per GPU x 4 GPUs): lr 3.2e-4 * 64 / 4096 = 5e-6, min 4e-5 * 64 / 4096 = 6.25e-7.
_base_ = ['./tcl_50k.py']

total_iters = 50000
warmup_iters = 15000
base_lr = 5e-6            # 3.2e-4 * 64 / 4096
min_lr = 6.25e-7          # 4e-5 * 64 / 4096

optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, end_factor=1.0, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=total_iters - warmup_iters, eta_min=min_lr, by_epoch=False,
         begin=warmup_iters, end=total_iters),
]
# lr above is for a total batch of 64; `--auto-scale-lr` rescales it linearly for another total batch.
auto_scale_lr = dict(base_batch_size=64)
