# MGCA (ECCV 2024), Tables 1-2: OpenAI CLIP ViT-B/16 (frozen) trained on CC3M (2.56M pairs) only.
# Schedule (Sec. 4.1): global batch 1024 (4 GPUs x 256), 15 epochs = 15 x 2,500 = 37,500 iterations, lr 1e-4 with
# a linear warmup over the first 2 epochs (5,000 iterations) then cosine annealing, Adam(W) with weight decay 0.05.
#   train:      bash tools/dist_train.sh projects/mgca/configs/mgca_vitb16_cc3m.py 4
#   benchmark:  python tools/benchmark.py projects/mgca/configs/mgca_vitb16_cc3m.py CKPT --data-root data --pamr off
# Epoch length assumes 2.56M pairs; set train_cfg.max_iters for another data size.
_base_ = [
    './_base_/mgca_vitb16.py',
    './_base_/mgca_cc3m_data.py',
    '../../../configs/_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmseg_code', 'projects.mgca.mgca'], allow_failed_imports=False)

num_pairs = 2560000
global_batch = 1024
iters_per_epoch = num_pairs // global_batch        # 2,500
total_iters = 15 * iters_per_epoch                 # 37,500
warmup_iters = 2 * iters_per_epoch                 # 5,000
base_lr = 1e-4

optim_wrapper = dict(
    constructor='SummaryOptimWrapperConstructor',  # log a summary of the parameter groups
    type='OptimWrapper',                 # `tools/train.py --amp` switches to AmpOptimWrapper
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=None)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=total_iters - warmup_iters, eta_min=0.0, by_epoch=False,
         begin=warmup_iters, end=total_iters),
]

train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_iters, val_interval=total_iters + 1)
# no test_cfg: MMEngine's Runner takes test_dataloader, test_cfg and test_evaluator together, and a training config
# has no test set (evaluate with configs/{code,tcl}/zeroshot/* or tools/benchmark.py).
auto_scale_lr = dict(enable=False, base_batch_size=global_batch)

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2500, max_keep_ckpts=2, save_last=True,
                    save_best=None))
custom_hooks = [dict(type='SkipCounterHook', interval=50)]
