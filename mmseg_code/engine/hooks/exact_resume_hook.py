"""Exact resume: checkpoints also hold the data-stream position and every RNG state, so ``--resume`` continues a run
as if it had never stopped (losses match an uninterrupted run step for step).

MMEngine's checkpoint restores model, optimizer, parameter schedulers and message hub (learnable prompts and InfoNCE
temperatures are model parameters). What it does not restore, and this hook adds under ``checkpoint['resume_state']``:

* **RNG states** of every rank: torch (CPU, and CUDA when initialised; Gumbel noise), numpy, Python ``random``, and
  those of modules exposing ``get_rng_state()``/``set_rng_state()`` (``KgCoOpNounPrompt``'s template generator). They
  are captured right before the checkpoint is written (after the step's other hooks) and restored right before the
  first resumed step. Validation runs inside saved/restored RNG states, so it never shifts the training stream.
* **Data-stream position** of every rank's dataloader workers (``ImageTextDataset``; mechanism in
  :mod:`mmseg_code.datasets.stream_state`). On resume the train loop's dataloader iterator is rebuilt from those
  positions, and MMEngine's own "advance the dataloader N steps" (which would decode N batches) is short-circuited.

Without a ``resume_state`` in the checkpoint (older files, other datasets), MMEngine's behaviour is kept and a warning
says the resume is not exact. Under DDP all ranks gather their states at the iterations where ``CheckpointHook``
saves (a collective every ``interval`` iterations); the world size and ``num_workers`` must stay the same to resume.
"""
from __future__ import annotations

import logging
import random
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner.loops import _InfiniteDataloaderIterator
from mmseg.registry import HOOKS

from mmseg_code.datasets.stream_state import ResumeState, stream_positions

STATE_KEY = 'resume_state'
VERSION = 1


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def capture_rng_state(model=None) -> Dict[str, Any]:
    """RNG states of this process (and of ``model``'s modules with ``get_rng_state``) as weights-only-safe types."""
    keys, pos, has_gauss, gauss = np.random.get_state()[1:]
    state: Dict[str, Any] = dict(
        torch=torch.get_rng_state(),
        numpy=dict(keys=torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos=int(pos), has_gauss=int(has_gauss),
                   gauss=float(gauss)),
        python=random.getstate())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    if model is not None:
        state['modules'] = {name: m.get_rng_state() for name, m in _unwrap(model).named_modules()
                            if callable(getattr(m, 'get_rng_state', None))}
    return state


def restore_rng_state(state: Dict[str, Any], model=None) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state['torch'])
    npst = state['numpy']
    np.random.set_state(('MT19937', npst['keys'].numpy().astype(np.uint32), npst['pos'], npst['has_gauss'],
                         npst['gauss']))
    py = state['python']
    random.setstate((py[0], tuple(py[1]), py[2]))
    if 'cuda' in state and torch.cuda.is_available():
        cuda = state['cuda']
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
    if model is not None:
        saved = state.get('modules', {})
        for name, m in _unwrap(model).named_modules():
            if callable(getattr(m, 'set_rng_state', None)) and name in saved:
                m.set_rng_state(saved[name])


class _SkipAdvance:
    """Dataloader iterator whose first ``skip`` ``next()`` calls return ``None`` without reading data.

    MMEngine's ``IterBasedTrainLoop.run`` calls ``next()`` ``runner.iter`` times after resuming to skip consumed
    data; the dataset already continues at the right position, so those calls must not consume anything."""

    def __init__(self, inner, skip: int, on_first_batch=None) -> None:
        self.inner = inner
        self.skip = int(skip)
        self.on_first_batch = on_first_batch

    def __iter__(self):
        return self

    def __next__(self):
        if self.skip > 0:
            self.skip -= 1
            return None
        batch = next(self.inner)
        if self.on_first_batch is not None:
            self.on_first_batch()
            self.on_first_batch = None
        return batch


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Save data-stream positions and RNG states in checkpoints; restore them on ``--resume``.

    Args:
        restore_rng: restore the RNG states on resume (False keeps the seed-derived states MMEngine sets).
        restore_data: continue the data stream from the recorded positions (False: MMEngine's advance).
    """

    # after the loggers and other LOW hooks of a step, before CheckpointHook (VERY_LOW = 90)
    priority = 85

    def __init__(self, restore_rng: bool = True, restore_data: bool = True) -> None:
        self.restore_rng = restore_rng
        self.restore_data = restore_data
        self._positions: Dict[int, Dict[str, Any]] = {}
        self._gathered: Optional[Dict[str, Any]] = None
        self._loaded: Optional[Dict[str, Any]] = None
        self._pending_rng: Optional[Dict[str, Any]] = None
        self._val_rng: Optional[Dict[str, Any]] = None

    # ------------------------------------------------------------------ saving
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        samples = (data_batch or {}).get('data_samples') if isinstance(data_batch, dict) else None
        for g, pos in stream_positions(samples).items():
            if g not in self._positions or pos['next'] >= self._positions[g]['next'] \
                    or pos['round'] != self._positions[g]['round']:
                self._positions[g] = pos
        if get_world_size() > 1 and self._checkpoint_due(runner):
            self._gathered = self._collect(runner, runner.iter + 1)

    @staticmethod
    def _checkpoint_due(runner) -> bool:
        for h in runner.hooks:
            if isinstance(h, CheckpointHook) and not h.by_epoch:
                if h.every_n_train_iters(runner, h.interval, h.save_begin) or \
                        (h.save_last and h.is_last_train_iter(runner)):
                    return True
        return False

    def _collect(self, runner, iteration: int) -> Dict[str, Any]:
        local = dict(positions=self._positions, rng=capture_rng_state(runner.model))
        ranks: List[Dict[str, Any]] = all_gather_object(local) if get_world_size() > 1 else [local]
        positions: Dict[int, Dict[str, Any]] = {}
        for r in ranks:
            positions.update(r['positions'])
        loader = runner.train_loop.dataloader
        return dict(version=VERSION, iter=int(iteration), world_size=get_world_size(),
                    num_workers=int(getattr(loader, 'num_workers', 0)), positions=positions,
                    rng=[r['rng'] for r in ranks])

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        iteration = int(checkpoint.get('meta', {}).get('iter', runner.iter))
        if get_world_size() == 1:
            state = self._collect(runner, iteration)
        elif self._gathered is not None and self._gathered['iter'] == iteration:
            state = self._gathered
        else:
            print_log(f'ExactResumeHook: checkpoint at iteration {iteration} was saved outside CheckpointHook\'s '
                      f'schedule; it holds no resume_state (resuming from it is not exact)',
                      logger='current', level=logging.WARNING)
            return
        checkpoint[STATE_KEY] = state

    # ------------------------------------------------------------------ validation must not shift training RNGs
    def before_val(self, runner) -> None:
        self._val_rng = capture_rng_state(runner.model)

    def after_val(self, runner) -> None:
        if self._val_rng is not None:
            restore_rng_state(self._val_rng, runner.model)
            self._val_rng = None

    # ------------------------------------------------------------------ resuming
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get(STATE_KEY)

    def before_train(self, runner) -> None:
        self._positions = {}
        if runner.iter == 0:  # fresh run, or load_from (weights only): nothing to continue
            return
        state = self._loaded
        if state is None or int(state.get('iter', -1)) != runner.iter:
            print_log(f'ExactResumeHook: the resumed checkpoint holds no resume_state for iteration {runner.iter}; '
                      f'RNG states restart from the seed and MMEngine re-reads {runner.iter} batches, so the run '
                      f'will not repeat an uninterrupted one exactly', logger='current', level=logging.WARNING)
            return
        world, rank = get_world_size(), get_rank()
        loader = runner.train_loop.dataloader
        num_workers = int(getattr(loader, 'num_workers', 0))
        if state['world_size'] != world or state['num_workers'] != num_workers:
            print_log(f'ExactResumeHook: the checkpoint was written by {state["world_size"]} processes with '
                      f'{state["num_workers"]} dataloader workers each, this run has {world} x {num_workers}; the '
                      f'data stream and RNG states cannot be restored exactly (keep both to resume exactly)',
                      logger='current', level=logging.WARNING)
            return
        self._positions = {int(g): dict(p) for g, p in state['positions'].items()}
        if self.restore_rng:
            self._pending_rng = state['rng'][rank]
        dataset = loader.dataset
        if self.restore_data and hasattr(dataset, 'set_resume_state'):
            self._restart_stream(runner, loader, dataset, state)
            print_log(f'ExactResumeHook: continuing the data stream of {len(self._positions)} dataloader workers '
                      f'at their recorded positions (iteration {runner.iter})', logger='current')

    @staticmethod
    def _restart_stream(runner, loader, dataset, state: Dict[str, Any]) -> None:
        loop = runner.train_loop
        old = getattr(loop, 'dataloader_iterator', None)
        inner = getattr(old, '_iterator', None)
        if hasattr(inner, '_shutdown_workers'):
            inner._shutdown_workers()
        if getattr(loader, '_iterator', None) is not None:  # persistent workers keep a cached iterator
            loader._iterator = None
        dataset.set_resume_state(ResumeState(state['positions'], batches_consumed=runner.iter))
        loop.dataloader_iterator = _SkipAdvance(_InfiniteDataloaderIterator(loader), runner.iter,
                                                on_first_batch=lambda: dataset.set_resume_state(None))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._pending_rng is not None:
            restore_rng_state(self._pending_rng, runner.model)
            self._pending_rng = None
