"""Unfreeze the image segmenter's copied CLIP block at iteration N (TCL's UST stage), DDP-safe.

The official TCL/CoDe code flips ``requires_grad`` at step 30k on a model that DDP wrapped while the block was
frozen; DDP only reduces parameters that required grad at construction, so after 30k every rank trains its own
copy of the block. Here the block requires grad from the start (DDP registers it and all-reduces its gradients
every step). While it is "frozen":

* the image segmenter gates its output so that the block's gradients are exactly zero (gradient clipping and
  AMP are unaffected), and
* this hook's optimizer step pre-hook sets those gradients to ``None`` right before ``optimizer.step()``, so
  AdamW neither decays the block nor creates Adam state for it (identical to a frozen parameter; the state
  starts fresh at the unfreeze iteration, as in the official code).

From ``runner.iter >= unfreeze_iter`` the block trains with synchronised gradients, so all ranks keep identical
copies. The state is re-derived from ``runner.iter`` before every iteration, so resuming is consistent.
"""
from __future__ import annotations

from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


def _segmenters(model) -> list:
    if is_model_wrapper(model):
        model = model.module
    return [m for m in model.modules() if hasattr(m, 'set_block_trainable') and hasattr(m, 'frozen_parameters')]


def _optimizers(optim_wrapper) -> list:
    if hasattr(optim_wrapper, 'optim_wrappers'):            # OptimWrapperDict
        return [w.optimizer for w in optim_wrapper.optim_wrappers.values()]
    return [optim_wrapper.optimizer]


@HOOKS.register_module()
class UnfreezeBlockHook(Hook):
    """Train the copied last CLIP block only from iteration ``unfreeze_iter`` on.

    Args:
        unfreeze_iter: first iteration (0-based ``runner.iter``) at which the block trains; None reads
            ``unfreeze_iter`` of each ``ImageSegmenter`` in the model (30000 for TCL/CoDe).
    """

    priority = 'HIGH'

    def __init__(self, unfreeze_iter: Optional[int] = None) -> None:
        self.unfreeze_iter = unfreeze_iter
        self._handles: list = []

    def _iter_of(self, seg) -> int:
        return int(self.unfreeze_iter if self.unfreeze_iter is not None else seg.unfreeze_iter)

    def apply(self, model, iteration: int) -> None:
        """Set every image segmenter's block state for ``iteration``."""
        for seg in _segmenters(model):
            seg.set_block_trainable(iteration >= self._iter_of(seg))

    def attach(self, model, optim_wrapper) -> None:
        """Register the optimizer step pre-hook that drops the frozen block's gradients."""
        segs = _segmenters(model)

        def drop_frozen_grads(optimizer, args, kwargs):
            for seg in segs:
                for p in seg.frozen_parameters():
                    p.grad = None

        for opt in _optimizers(optim_wrapper):
            self._handles.append(opt.register_step_pre_hook(drop_frozen_grads))

    def before_train(self, runner) -> None:
        self.attach(runner.model, runner.optim_wrapper)
        self.apply(runner.model, runner.iter)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.apply(runner.model, runner.iter)

    def after_train(self, runner) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
