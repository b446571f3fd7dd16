"""Skip optimizer steps whose total loss (or gradient) is not finite, count them, and stop after N in a row.

A single NaN/Inf loss would otherwise be back-propagated into every trainable weight and into AdamW's moments,
silently ruining the run. This hook wraps the runner's ``OptimWrapper`` (the instance, at ``before_train``):

* ``update_params(loss)``: if the total loss is not finite on *any* rank (one all-reduce of a flag under DDP, so all
  ranks skip together and DDP's gradient all-reduce cannot hang), backward and step are skipped, gradients cleared:
  weights and optimizer state stay exactly as they were.
* ``step()`` (plain ``OptimWrapper`` only; ``AmpOptimWrapper``'s GradScaler already skips steps with inf/NaN gradients
  and lowers its scale): if a gradient is not finite, the step is skipped the same way (gradients are identical on all
  ranks after DDP's all-reduce, so the decision is too).

Each skip logs a warning naming the iteration and the non-finite value, and is counted in the message hub
(``nonfinite_skipped`` scalar in the training log, cumulative ``nonfinite_skipped_total`` info that checkpoints keep).
``max_consecutive`` skipped steps in a row stop training with one clear error (0: never stop).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper
from mmseg.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """Raised after ``max_consecutive`` optimizer steps in a row were skipped for non-finite values."""


def _wrappers(optim_wrapper) -> list:
    if hasattr(optim_wrapper, 'optim_wrappers'):  # OptimWrapperDict
        return list(optim_wrapper.optim_wrappers.values())
    return [optim_wrapper]


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Guard the optimizer against non-finite losses and gradients.

    Args:
        max_consecutive: stop with :class:`NonFiniteLossError` after this many skipped steps in a row (0: never).
        check_grads: also skip (plain ``OptimWrapper``) steps whose gradients contain NaN/Inf.
    """

    priority = 'VERY_HIGH'

    def __init__(self, max_consecutive: int = 5, check_grads: bool = True) -> None:
        if max_consecutive < 0:
            raise ValueError(f'NonFiniteGuardHook: max_consecutive must be >= 0, got {max_consecutive}')
        self.max_consecutive = int(max_consecutive)
        self.check_grads = bool(check_grads)
        self.consecutive = 0
        self.total = 0
        self._runner = None
        self._originals: list = []

    # ------------------------------------------------------------------ wiring
    def before_train(self, runner) -> None:
        self._runner = runner
        self.total = int(runner.message_hub.get_info('nonfinite_skipped_total', 0) or 0)
        self.consecutive = 0
        for ow in _wrappers(runner.optim_wrapper):
            self._wrap(ow)

    def after_train(self, runner) -> None:
        for ow, update, step in self._originals:
            ow.update_params, ow.step = update, step
        self._originals = []

    def _wrap(self, ow) -> None:
        orig_update, orig_step = ow.update_params, ow.step
        # instance attributes shadow the bound methods; after_train removes them again
        self._originals.append((ow, orig_update, orig_step))
        hook = self

        def update_params(loss: torch.Tensor, step_kwargs: Optional[Dict] = None,
                          zero_kwargs: Optional[Dict] = None) -> None:
            if not hook._all_finite(loss):
                ow.zero_grad()
                hook._skip(f'total loss is {float(loss.detach().float().sum())}')
                return
            orig_update(loss, step_kwargs=step_kwargs, zero_kwargs=zero_kwargs)

        def step(**kwargs: Any) -> None:
            if hook.check_grads and not isinstance(ow, AmpOptimWrapper):
                bad = hook._nonfinite_grads(ow)
                if bad:
                    ow.zero_grad()
                    hook._skip(f'{bad} gradient tensor(s) are not finite')
                    return
            orig_step(**kwargs)
            hook.consecutive = 0

        ow.update_params = update_params
        ow.step = step

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _all_finite(loss: torch.Tensor) -> bool:
        flag = torch.isfinite(loss.detach()).all().to(torch.float32).reshape(1)
        if get_world_size() > 1:
            all_reduce(flag, op='min')
        return bool(flag.item() > 0)

    @staticmethod
    def _nonfinite_grads(ow) -> int:
        bad = 0
        for group in ow.optimizer.param_groups:
            for p in group['params']:
                if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
                    bad += 1
        return bad

    def _skip(self, why: str) -> None:
        runner = self._runner
        self.consecutive += 1
        self.total += 1
        iteration = runner.iter + 1 if runner is not None else -1
        if runner is not None:
            runner.message_hub.update_scalar('train/nonfinite_skipped', float(self.total))
            runner.message_hub.update_info('nonfinite_skipped_total', self.total)
        print_log(f'NonFiniteGuardHook: iteration {iteration}: {why}; optimizer step skipped, weights and optimizer '
                  f'state unchanged ({self.consecutive} in a row, {self.total} in total)',
                  logger='current', level=logging.WARNING)
        if self.max_consecutive and self.consecutive >= self.max_consecutive:
            raise NonFiniteLossError(
                f'NonFiniteGuardHook: {self.consecutive} consecutive training steps had a non-finite loss or gradient '
                f'(last at iteration {iteration}: {why}); stopping. Lower the learning rate, check the data, or resume '
                f'from the last checkpoint (max_consecutive={self.max_consecutive}).')

