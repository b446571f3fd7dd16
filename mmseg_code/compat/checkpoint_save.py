"""Crash-safe checkpoint saving for mmengine 0.10.7.

Two defects of the stock path lose work when a save fails (full disk, quota, I/O error, ``kill -9`` mid-write):

1. ``LocalBackend.put`` opens the final file name with ``'wb'`` and writes into it: a failed or interrupted write
   leaves a truncated ``iter_N.pth`` that ``--resume`` then picks up and cannot load.
2. ``CheckpointHook._save_checkpoint_with_step`` deletes the oldest kept checkpoint *before* writing the new one:
   with ``max_keep_ckpts=1`` a failed save leaves no checkpoint at all (and ``last_checkpoint`` pointing at a
   deleted file).

The fix (the smallest that closes both): ``put`` writes to a temporary file in the same directory, fsyncs it and
``os.replace``-s it onto the final name (atomic on POSIX; the temporary file is removed on failure), and the hook
saves first and prunes afterwards. A failed save raises :class:`CheckpointSaveError`, one line naming the file, the
reason and the previous checkpoint, which is intact and still named by ``last_checkpoint``.
"""
from __future__ import annotations

import os
import os.path as osp
from pathlib import Path
from typing import Union

import mmengine
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook


class CheckpointSaveError(OSError):
    """Writing a checkpoint failed; the previous checkpoint is untouched."""


def _write_all(f, data: bytes) -> None:
    """Write ``data`` to the open file ``f`` (a separate function so fault-injection tests can replace it)."""
    f.write(data)


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` through a temporary file and ``os.replace``: all or nothing."""
    filepath = str(filepath)
    directory = osp.dirname(filepath) or '.'
    mmengine.mkdir_or_exist(directory)
    tmp = osp.join(directory, f'.{osp.basename(filepath)}.tmp-{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _atomic_put(self, obj: bytes, filepath: Union[str, Path]) -> None:
    atomic_write_bytes(obj, filepath)


def _atomic_put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
    atomic_write_bytes(obj.encode(encoding), filepath)


def _save_checkpoint_with_step(self, runner, step, meta):
    """``CheckpointHook._save_checkpoint_with_step`` with save-then-prune order and an atomic ``last_checkpoint``.

    The bookkeeping that goes into the checkpoint's message hub (``keep_ckpt_ids``, ``last_ckpt``) is updated before
    saving, as mmengine does, so a resumed run prunes correctly; files are only deleted after the save succeeded."""
    ckpt_filename = self.filename_tmpl.format(step)
    path = self.file_backend.join_path(self.out_dir, ckpt_filename)
    previous = getattr(self, 'last_ckpt', None)
    evicted = []
    if self.max_keep_ckpts > 0 and (not self.keep_ckpt_ids or self.keep_ckpt_ids[-1] != step):
        ids = self.keep_ckpt_ids  # a deque with maxlen=max_keep_ckpts: append drops the oldest ids
        evicted = [ids[i] for i in range(len(ids) - self.max_keep_ckpts + 1)] if len(ids) >= self.max_keep_ckpts \
            else []
        ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(ids))
    self.last_ckpt = path
    runner.message_hub.update_info('last_ckpt', path)
    try:
        runner.save_checkpoint(self.out_dir, ckpt_filename, self.file_client_args,
                               save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
                               meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
    except OSError as err:
        self.last_ckpt = previous
        reason = err.strerror or str(err) or type(err).__name__
        kept = (f'the last good checkpoint {previous} is intact and last_checkpoint still names it; free space and '
                f'continue with --resume') if previous else 'no earlier checkpoint exists'
        raise CheckpointSaveError(err.errno, f'could not save checkpoint {path} ({reason}); nothing was written '
                                  f'under that name; {kept}') from err
    if not is_main_process():
        return
    for old in evicted:
        old_path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
        if self.file_backend.isfile(old_path):
            self.file_backend.remove(old_path)
        elif self.file_backend.isdir(old_path):
            self.file_backend.rmtree(old_path)
    atomic_write_bytes(self.last_ckpt.encode('utf-8'), osp.join(runner.work_dir, 'last_checkpoint'))


def register_safe_saving() -> None:
    """Install the atomic local writer and the save-then-prune checkpoint order (idempotent)."""
    LocalBackend.put = _atomic_put
    LocalBackend.put_text = _atomic_put_text
    CheckpointHook._save_checkpoint_with_step = _save_checkpoint_with_step
