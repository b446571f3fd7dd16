"""``AtomicCheckpointHook``: MMEngine's ``CheckpointHook`` with crash-safe saving and weights-only-clean files.

Set as ``default_hooks.checkpoint.type`` (``configs/_base_/default_runtime.py``), so every entry point that builds a
Runner from the config — ``tools/train.py``, ``mim train mmseg``, a user's own ``Runner.from_cfg`` — saves the same
way. What it changes with respect to ``CheckpointHook`` (local ``out_dir``; other storage keeps MMEngine's path):

* **Atomic.** A checkpoint is written to a temporary file next to it (``.iter_N.pth.tmp-<pid>``), fsynced, given the
  mode of the file it replaces, and ``os.replace``-d onto the final name — onto its real path, so a symlinked
  checkpoint keeps its link and the target gets the new content. A failed or killed save never leaves a truncated
  ``iter_N.pth``; ``last_checkpoint`` is written the same way.
* **Save, then prune.** MMEngine deletes the oldest kept checkpoint before writing the new one; here old checkpoints
  are removed only after the new one is complete, so with ``max_keep_ckpts=1`` a full disk keeps the previous
  checkpoint. A failed save raises :class:`CheckpointSaveError`: one line naming the file, the reason and the intact
  previous checkpoint, which ``last_checkpoint`` still names.
* **Temporaries of a killed save** (a dead process's ``.*.tmp-<pid>``) are removed after the next successful save.
* **Weights-only clean.** ``before_save_checkpoint`` stores ``HistoryBuffer``s and numpy values as tensors and plain
  values (:mod:`mmseg_code.engine.checkpoint_format`), ``after_load_checkpoint`` restores them, so torch's default
  ``torch.load(weights_only=True)`` in MMEngine reads the file without any allow-list. It runs at this hook's
  priority (``VERY_LOW``): after the hooks that add to a checkpoint (``ExactResumeHook``), and restores in place, so
  a hook holding a part of a loaded checkpoint sees the restored values.
"""
from __future__ import annotations

import glob
import logging
import os
import os.path as osp
import stat
from typing import Callable, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from ..checkpoint_format import from_weights_only, to_weights_only, unsupported_paths

TMP_INFIX = '.tmp-'


class CheckpointSaveError(OSError):
    """Writing a checkpoint failed; the previous checkpoint is untouched."""


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_name(path: str) -> str:
    """The temporary file a save of ``path`` writes first: hidden, in the same directory, with this process's id."""
    return osp.join(osp.dirname(path), f'.{osp.basename(path)}{TMP_INFIX}{os.getpid()}')


def atomic_write(path: str, write: Callable[[str], None]) -> str:
    """Call ``write(tmp)`` to write a temporary file next to ``path``'s real path, fsync it, give it the mode of the
    file it replaces and ``os.replace`` it there; the temporary file is removed on failure. Returns the real path."""
    final = osp.realpath(path)
    os.makedirs(osp.dirname(final), exist_ok=True)
    tmp = temporary_name(final)
    try:
        write(tmp)
        _fsync(tmp)
        if osp.exists(final):
            os.chmod(tmp, stat.S_IMODE(os.stat(final).st_mode))
        os.replace(tmp, final)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    try:  # the rename itself survives a power cut once the directory is synced (not possible everywhere)
        _fsync(osp.dirname(final))
    except OSError:
        pass
    return final


def write_text_atomic(path: str, text: str) -> str:
    def write(tmp: str) -> None:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
    return atomic_write(path, write)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # no save of this process is in progress while the next one is being finished
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temporaries(directory: str, pattern: str = '*') -> list:
    """Remove ``.{pattern}.tmp-<pid>`` files in ``directory`` whose process is gone; returns the removed paths."""
    removed = []
    for tmp in glob.glob(osp.join(glob.escape(directory), f'.{pattern}{TMP_INFIX}*')):
        pid = tmp.rsplit(TMP_INFIX, 1)[1]
        if pid.isdigit() and not _process_alive(int(pid)):
            try:
                os.remove(tmp)
                removed.append(tmp)
            except OSError:
                pass
    return removed


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) whose saves are atomic, pruned after success and loadable with
    ``weights_only=True`` (see the module docstring)."""

    # ------------------------------------------------------------------ weights-only clean files
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in list(checkpoint):
            checkpoint[key] = to_weights_only(checkpoint[key])
        bad = unsupported_paths(checkpoint)
        if bad:
            print_log(f'AtomicCheckpointHook: the checkpoint holds objects that weights_only loading refuses: '
                      f'{", ".join(bad)}; it will need tools/model_converters/trust_checkpoint.py to load',
                      logger='current', level=logging.WARNING)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        from_weights_only(checkpoint)

    # ------------------------------------------------------------------ atomic save, prune after success
    def _is_local(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._is_local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        ckpt_filename = self.filename_tmpl.format(step)
        path = self.file_backend.join_path(self.out_dir, ckpt_filename)
        previous: Optional[str] = self.last_ckpt
        kept_before = list(self.keep_ckpt_ids) if self.max_keep_ckpts > 0 else None
        evicted = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            # the bookkeeping saved in the checkpoint's message hub already names the new file, as in MMEngine
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                evicted.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        self.last_ckpt = path
        runner.message_hub.update_info('last_ckpt', path)
        try:
            self._save_atomic(runner, path, meta)
        except OSError as err:
            self._undo(runner, previous, kept_before)
            reason = err.strerror or str(err) or type(err).__name__
            kept = (f'the last good checkpoint {previous} is intact and last_checkpoint still names it; free space '
                    f'and continue with --resume') if previous else 'no earlier checkpoint exists'
            raise CheckpointSaveError(err.errno, f'could not save checkpoint {path} ({reason}); nothing was '
                                      f'written under that name; {kept}') from err
        if not is_main_process():
            return
        for old in evicted:
            old_path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            if self.file_backend.isfile(old_path):
                self.file_backend.remove(old_path)
            elif self.file_backend.isdir(old_path):
                self.file_backend.rmtree(old_path)
        last = write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        remove_stale_temporaries(osp.dirname(osp.realpath(path)), self.filename_tmpl.format('*'))
        remove_stale_temporaries(osp.dirname(last), 'last_checkpoint')

    def _undo(self, runner, previous: Optional[str], kept_before: Optional[list]) -> None:
        """A failed save: the bookkeeping names the previous checkpoint again."""
        self.last_ckpt = previous
        if previous is not None:
            runner.message_hub.update_info('last_ckpt', previous)
        if kept_before is not None:
            self.keep_ckpt_ids.clear()
            self.keep_ckpt_ids.extend(kept_before)
            runner.message_hub.update_info('keep_ckpt_ids', list(kept_before))

    def _save_atomic(self, runner, path: str, meta: dict) -> None:
        """``runner.save_checkpoint`` into the temporary file (MMEngine writes it; only the main process does),
        then fsync and rename onto ``path``'s real path."""
        def write(tmp: str) -> None:
            runner.save_checkpoint(osp.dirname(tmp), osp.basename(tmp), self.file_client_args,
                                   save_optimizer=self.save_optimizer,
                                   save_param_scheduler=self.save_param_scheduler, meta=meta,
                                   by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)

        if is_main_process():
            atomic_write(path, write)
        else:
            write(temporary_name(osp.realpath(path)))  # collective parts of saving, if any; writes nothing here
