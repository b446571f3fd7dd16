"""Exact, resumable positions in ``ImageTextDataset``'s stream (used by ``ExactResumeHook``).

The mechanism (why a resumed run sees exactly the samples, in the same order and with the same augmentations, as an
uninterrupted one):

* **A stream per logical worker.** Global worker ``g = rank * W + w`` (``W`` dataloader workers per rank, ``w`` the
  worker's *logical* id) reads a fixed function of ``(seed, g, world, round)``: its share of the shard permutation,
  the source mix and the shuffle buffer all come from generators seeded with those numbers, so the sequence of raw
  (undecoded) samples leaving its shuffle buffer is deterministic.
* **Per-sample transform randomness.** The pipeline of the ``k``-th raw sample of that sequence runs with numpy's,
  Python's and torch's (CPU) global RNGs seeded from ``(seed, g, world, round, k)`` (:func:`seeded_global_rngs`); the
  caller's RNG states are restored afterwards, so decoding neither depends on nor disturbs any other randomness
  (e.g. the model's Gumbel noise when ``num_workers=0``).
* **Positions travel with the samples.** Every yielded sample carries ``metainfo['stream_pos'] = dict(worker=g,
  world, round, next=k + 1)``. The main process records, per ``g``, the position after the last sample it *consumed*
  (prefetched batches do not count) together with that worker's cumulative skip and change counts; the hook stores
  these in the checkpoint (all ranks gathered).
* **Resume.** The dataset re-reads the raw stream of each worker up to ``next`` *without* running the pipeline
  (reading tar bytes only: no decoding, tagging or tokenising), restores the counts, and continues. PyTorch's
  DataLoader takes batches from its workers round-robin (batch ``n`` from worker ``n % W``), so after ``c`` consumed
  batches physical worker ``p`` plays logical worker ``(p + c) % W``; the batch order is then identical too.

Cost of a resume: the raw bytes of the already-consumed samples are read again (sequential I/O), once.
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional, Sequence

import numpy as np
import torch

_SALT = 0x5EED


@contextmanager
def seeded_global_rngs(entropy: Sequence[int]) -> Iterator[None]:
    """Run the body with numpy's, Python's and torch's CPU global RNGs seeded from ``entropy``; restore them after.

    Only torch's CPU default generator is touched (never the CUDA ones), so a model on the GPU keeps its stream.
    """
    np_state = np.random.get_state()
    py_state = random.getstate()
    torch_state = torch.random.default_generator.get_state()
    words = np.random.SeedSequence([_SALT, *[int(e) for e in entropy]]).generate_state(4)
    np.random.seed(words[:2])
    random.seed(int(words[0]) << 32 | int(words[1]))
    torch.random.default_generator.manual_seed(int(words[2]) << 32 | int(words[3]))
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
        torch.random.default_generator.set_state(torch_state)


def logical_worker(physical: int, num_workers: int, batches_consumed: int) -> int:
    """Logical worker id of DataLoader worker ``physical`` after ``batches_consumed`` batches (round-robin order)."""
    return (int(physical) + int(batches_consumed)) % max(int(num_workers), 1)


def stream_positions(data_samples: Any) -> Dict[int, Dict[str, Any]]:
    """``{g: dict(world, round, next, skip_counts, change_counts)}`` from the ``stream_pos`` metainfo of a batch's data
    samples."""
    out: Dict[int, Dict[str, Any]] = {}
    for ds in data_samples or []:
        meta = getattr(ds, 'metainfo', None)
        pos = meta.get('stream_pos') if meta is not None else None
        if not pos:
            continue
        g = int(pos['worker'])
        if g not in out or pos['next'] > out[g]['next']:
            out[g] = dict(world=int(pos['world']), round=int(pos['round']), next=int(pos['next']),
                          skip_counts=dict(meta.get('skip_counts', {})),
                          change_counts=dict(meta.get('change_counts', {})))
    return out


class ResumeState:
    """What one dataset needs to continue: the recorded positions of its rank's logical workers and the number of
    batches the DataLoader had delivered (to undo the round-robin rotation)."""

    def __init__(self, positions: Dict[int, Dict[str, Any]], batches_consumed: int) -> None:
        self.positions = {int(k): dict(v) for k, v in positions.items()}
        self.batches_consumed = int(batches_consumed)

    def for_worker(self, g: int, world: int) -> Optional[Dict[str, Any]]:
        pos = self.positions.get(int(g))
        if pos is None:
            return None
        if int(pos['world']) != int(world):
            raise RuntimeError(f'ImageTextDataset: cannot resume the data stream exactly: the checkpoint was written '
                               f'with {pos["world"]} global dataloader workers, this run has {world} (keep the number '
                               f'of processes and train_dataloader.num_workers when resuming)')
        return pos
