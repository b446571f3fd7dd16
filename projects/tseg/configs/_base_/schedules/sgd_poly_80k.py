# TSEG weak supervision (Sec. 4.2): SGD, γ0 = 1e-3, weight decay 1e-4, poly decay 0.9 (momentum 0.9: not stated).
# The runtime is this schedule's base, so that default_hooks below refine it (mmengine refuses a key that two
# sibling bases both set).
_base_ = ['../../../../../configs/_base_/default_runtime.py']
max_iters = 80000
optim_wrapper = dict(type='OptimWrapper', constructor='SummaryOptimWrapperConstructor',
                     optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=8000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=8000, max_keep_ckpts=3,
                                     save_best=None),
                     visualization=dict(type='SegVisualizationHook', draw=False))
