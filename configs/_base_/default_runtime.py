# Runtime shared by every experiment: mmseg scope, the plugin imported, iteration-based logging and checkpoints.
default_scope = 'mmseg'
custom_imports = dict(imports=['mmseg_code'], allow_failed_imports=False)

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
# SegLegendVisualizer (mmseg_code.apis): mmseg's visualizer plus a legend; keeps the test classes when mmseg's
# SegVisualizationHook builds the training loop during testing.
visualizer = dict(type='SegLegendVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# diff_rank_seed: rank r seeds its global RNGs with seed + r (MMEngine's set_random_seed), as the official CoDe/TCL
# code does (seed + rank): DDP ranks draw different Gumbel noise (and KgCoOpNounPrompt's template generator, seeded
# with its own seed + rank). What must agree across ranks does not use this seed: the image-text stream splits its
# shards with the dataset's own seed (ImageTextDataset.seed), samplers get a seed broadcast from rank 0, initial
# weights are broadcast from rank 0 after init_weights, and ExactResumeHook saves/restores every rank's RNG states.
randomness = dict(seed=0, diff_rank_seed=True)

# Checkpoints at fixed iterations, the last few kept; never selected by a test-set score (save_best=None).
# AtomicCheckpointHook (mmseg_code/engine/hooks/atomic_checkpoint_hook.py) is MMEngine's CheckpointHook with atomic
# saves (temporary file, fsync, rename; symlinks and file modes kept), old checkpoints pruned only after a successful
# save, and files that torch.load(weights_only=True) reads without any allow-list.
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=3, save_best=None),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))

# Reliability of long runs (mmseg_code/engine/hooks/): ExactResumeHook stores the data-stream position and RNG states
# in each checkpoint, so --resume repeats an uninterrupted run; NonFiniteGuardHook skips an optimizer step whose loss
# or gradients are not finite and stops after max_consecutive such steps in a row. Method configs extend the list:
# custom_hooks = _base_.custom_hooks + [...]; remove an entry to run without it.
custom_hooks = [dict(type='ExactResumeHook'), dict(type='NonFiniteGuardHook', max_consecutive=5)]
