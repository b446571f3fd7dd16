# CoDe (CVPR 2024), Table 1 / Table 2 row "+C+W+R": OpenAI ViT-B/16 on CC3M + CC12M, 224^2 crops, 16 per GPU x 4 GPUs
# (total 64 pairs = 128 noun triplets), 50k iterations, as the official code
# (072jiajia/Image-Text-Co-Decomposition, configs/experiment_configs.yml; schedule: _base_/schedules/code_50k.py):
#   AdamW lr 5e-6 (= 3.2e-4 * 64 / 4096), betas (0.9, 0.999), eps 1e-6, wd 0.05 (none on 1-D tensors and biases;
#   0-d scalars, ctx, P_v and P_t are decayed, as the official code); linear warmup from factor 1e-4 over 15k
#   iterations, cosine to 6.25e-7 over the remaining 35k; grad-norm clip 5.0; AMP with `tools/train.py --amp`.
# Checkpoints every 5k iterations (last one kept); no model selection on test sets.
#   train:  bash tools/dist_train.sh configs/code/code_vitb16_cc.py 4 --amp
#   sweep:  ... --cfg-options model.loss_weights.hcl=0.25     (Table 3: 0.05, 0.1, 0.25, 0.5, 0.75, 1.0)
_base_ = [
    '../_base_/models/code_vitb16.py',
    '../_base_/datasets/cc3m_cc12m.py',
    '../_base_/schedules/code_50k.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=16)   # per GPU, 4 GPUs

default_hooks = dict(checkpoint=dict(by_epoch=False, interval=5000, max_keep_ckpts=1, save_last=True, save_best=None))
custom_hooks = _base_.custom_hooks + [dict(type='SkipCounterHook', interval=50), dict(type='UnfreezeBlockHook')]
