"""``ImageTextDataset``: an endless, sharded, shuffled stream of image-caption pairs for text-supervised training,
built from webdataset stages.

Data flow per dataloader worker (stages in :mod:`.webdataset_io`)::

    per source: SimpleShardList(permuted) | ResampledShards  -> split_by_node -> split_by_worker
                -> url_opener -> tar_members -> group_by_keys -> raw sample           (each drop counted by reason)
    RandomMix(sources, weights) -> shuffle(buffer of raw bytes)
    -> pipeline (decode, augment, clean caption, select nouns, tokenize, pack) -> dict(inputs, data_samples)

* **Splitting.** Pass ``p`` over source ``s`` takes its units (shards or annotation rows) in the order
  ``numpy.random.default_rng([seed, s, p]).permutation`` -- the same on every rank and worker -- and rank ``r`` of
  ``R`` takes every ``R``-th unit, its worker ``w`` of ``N`` every ``N``-th of those. A source with fewer units than
  ``R * N`` workers is read by every worker and split sample-wise (event ``k`` -- a sample or a skip -- goes to
  global worker ``k % (R * N)``). ``resample=True`` in a source draws shards with replacement instead
  (``wds.ResampledShards``; each worker its own endless draw).
* **Endless.** With ``repeat=True`` (training) passes continue forever with fresh permutations; ``repeat=False``
  makes one pass (inspection, tests).
* **Order.** The shuffle buffer is ``wds.shuffle`` drawing from ``default_rng([seed, 7919, worker, workers,
  round])``. Permutations and shuffle draws are those of the reader this one replaced, so a seed gives the same
  samples in the same order as before the move to webdataset (the README's main-job numbers depend on it).
* **Bad data.** Readers and transforms report bad samples (``SkipSample`` or a webdataset handler); they are dropped
  and counted by reason. The per-worker cumulative counts ride along in each yielded data sample's metainfo
  (``skip_counts``, ``skip_source``) so that ``SkipCounterHook`` in the main process can sum them over workers and
  ranks. If ``max_consecutive_skips`` samples in a row are bad the stream stops with an error naming the counts, so
  a broken dataset or pipeline cannot spin silently.
* **Exact resume.** Each yielded sample also carries its worker's stream position (``stream_pos``); with
  ``ExactResumeHook`` checkpoints record the consumed positions and a resumed run continues each worker's stream
  exactly, with the same per-sample transform randomness. The stages above are seeded from the logical worker's
  ``(seed, worker, round)`` -- including ``wds.RandomMix``, which runs with a global ``random`` state of its own
  (:func:`.webdataset_io.own_python_random`) -- and this class carries the position (mechanism:
  :mod:`mmseg_code.datasets.stream_state`).

Use it with MMEngine's Runner as ``train_dataloader = dict(batch_size=..., num_workers=..., sampler=None,
dataset=dict(type='ImageTextDataset', ...))``: PyTorch forbids samplers for iterable datasets, and MMEngine passes
``sampler=None`` straight through.
"""
import traceback
from itertools import count
from typing import Any, Dict, Iterator, Optional, Sequence, Union

import numpy as np
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmseg.registry import DATASETS, TRANSFORMS
from torch.utils.data import IterableDataset, get_worker_info

from .skip import CHANGES_KEY, SkipCounter, SkipSample
from .sources import build_source
from .stream_state import ResumeState, logical_worker, seeded_global_rngs
from .webdataset_io import RawSample, random_mix, shuffle, split_by_node, split_by_worker

# tags of the seeds derived from ``seed`` (one generator per purpose); 7919 is the shuffle buffer's since the first
# version of this class (its draws, and so the sample order, stayed the same)
_UNITS, _MIX, _SHUFFLE = 1, 2, 7919


class _SkipState:
    """Skip bookkeeping of one iterator: counts, the consecutive-skip guard and sample-wise ownership."""

    def __init__(self, limit: int) -> None:
        self.counts = SkipCounter()
        self.changes = SkipCounter()  # samples kept with a change (e.g. caption_truncated), by kind
        self.consecutive = 0
        self.limit = limit

    def skip(self, reason: str, detail: str = '') -> None:
        self.counts.add(reason)
        self.consecutive += 1
        if self.limit and self.consecutive >= self.limit:
            raise RuntimeError(
                f'ImageTextDataset: {self.consecutive} consecutive samples were skipped (last: {reason} {detail}); '
                f'counts so far {self.counts.as_dict()}. The data or the pipeline is broken.')


@DATASETS.register_module()
class ImageTextDataset(IterableDataset):
    """Stream image-caption pairs from webdataset shards and/or caption files through an mmseg pipeline.

    Args:
        sources: one source config or a list; ``dict(urls='cc3m/{00000..00331}.tar', weight=3.0)`` for img2dataset
            shards (add ``resample=True`` to draw shards with replacement), ``dict(ann_file='pairs.jsonl',
            img_dir='images/', weight=1.0)`` for a folder + JSONL/CSV. Weights are ``wds.RandomMix`` probabilities.
        pipeline: transform configs (mmseg ``TRANSFORMS``), applied to ``dict(key, img_bytes, caption, meta, source)``.
        shuffle_buffer: size of the sample-level shuffle buffer of raw (undecoded) samples; 0 or 1 disables it.
        seed: seed of shard permutations, source mixing, the shuffle buffer and the transforms (the pipeline of the
            k-th sample of a worker runs with numpy/Python/torch-CPU global RNGs seeded from (seed, worker, k)).
        repeat: endless iteration (training) or a single pass.
        rank, world_size: override the distributed rank/world size (default: ``mmengine.dist.get_dist_info()``).
        max_consecutive_skips: raise after this many bad samples in a row (0 disables the guard).
        length: nominal number of samples per rank reported by ``len()`` (MMEngine's logger asks for it); by default
            a huge number for endless streams, so no epoch end is ever reported.
    """

    ENDLESS_LENGTH = 2 ** 62

    def __init__(self,
                 sources: Union[Dict[str, Any], Sequence[Dict[str, Any]]],
                 pipeline: Sequence[Dict[str, Any]] = (),
                 shuffle_buffer: int = 10000,
                 seed: int = 0,
                 repeat: bool = True,
                 rank: Optional[int] = None,
                 world_size: Optional[int] = None,
                 max_consecutive_skips: int = 10000,
                 length: Optional[int] = None) -> None:
        super().__init__()
        source_cfgs = [sources] if isinstance(sources, dict) else list(sources)
        if not source_cfgs:
            raise ValueError('ImageTextDataset: no source given')
        self.sources = [build_source(cfg) for cfg in source_cfgs]
        weights = np.array([s.weight for s in self.sources], dtype=np.float64)
        if (weights <= 0).any():
            raise ValueError(f'ImageTextDataset: source weights must be positive, got {weights.tolist()}')
        self.weights = weights
        self.transforms = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        self.shuffle_buffer = int(shuffle_buffer)
        self.seed = int(seed)
        self.repeat = repeat
        self._fixed_rank = rank is not None or world_size is not None
        dist_rank, dist_world = get_dist_info()
        self.rank = dist_rank if rank is None else int(rank)
        self.world_size = dist_world if world_size is None else int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f'ImageTextDataset: rank {self.rank} outside world size {self.world_size}')
        self.max_consecutive_skips = int(max_consecutive_skips)
        self.length = length
        self._iterations = 0
        self.skip_counts = SkipCounter()  # counts of the most recent iterator in this process
        self.change_counts = SkipCounter()  # samples it kept with a change (caption_truncated), by kind
        self._resume: Optional[ResumeState] = None

    def set_resume_state(self, state: Optional[ResumeState]) -> None:
        """Continue the next iterators (created after this call) from recorded stream positions; ``None`` clears.

        See :mod:`mmseg_code.datasets.stream_state` for the mechanism (``ExactResumeHook`` calls this)."""
        self._resume = state

    def __len__(self) -> int:
        if self.length is not None:
            return int(self.length)
        if self.repeat:
            return self.ENDLESS_LENGTH
        raise TypeError('ImageTextDataset(repeat=False) has no known length; pass length=...')

    @property
    def metainfo(self) -> Dict[str, Any]:
        return dict(dataset_type='image_text', sources=[s.name for s in self.sources],
                    weights=self.weights.tolist())

    # ------------------------------------------------------------------ splitting and mixing
    def _seed(self, *words: int) -> int:
        """A 64-bit seed for one stage, a fixed function of ``(seed, *words)``."""
        a, b = np.random.SeedSequence([self.seed, *[int(w) for w in words]]).generate_state(2)
        return int(a) << 32 | int(b)

    def _slot(self) -> tuple:
        """(rank, world size, physical worker id, workers per rank)."""
        info = get_worker_info()
        if info is None and not self._fixed_rank:
            self.rank, self.world_size = get_dist_info()
        num_workers = info.num_workers if info is not None else 1
        worker_id = info.id if info is not None else 0
        return self.rank, self.world_size, worker_id, num_workers

    def _source_stream(self, si: int, slot: tuple, rnd: int, state: _SkipState) -> Iterator[RawSample]:
        source = self.sources[si]
        rank, ranks, worker, workers = slot
        g, world = rank * workers + worker, ranks * workers
        if source.resample:
            yield from self._resampled_stream(si, g, world, rnd, state)
            return
        n = len(source.units)
        shared = n < world  # too few units: every worker reads all and keeps every world-th event
        if shared and g == 0:
            print_log(f'ImageTextDataset: source {source.name} has {n} units for {world} workers; every worker reads '
                      f'all of them and keeps every {world}-th sample (add shards for efficiency)',
                      logger='current', level=30)
        event = [0]

        def owned() -> bool:
            mine = not shared or event[0] % world == g
            event[0] += 1
            return mine

        def on_skip(reason: str, detail: str = '') -> None:
            if owned():
                state.skip(reason, detail)

        for pass_no in count():
            units = source.pass_units(np.random.default_rng([self.seed, si, pass_no]).permutation(n))
            if not shared:
                units = split_by_worker(split_by_node(units, rank, ranks), worker, workers)
            good = 0  # usable samples seen in this pass, owned or not
            for raw in source.read(units, on_skip):
                good += 1
                if owned():
                    yield raw
            if good == 0:
                raise RuntimeError(f'ImageTextDataset: source {source.name} gave worker {g}/{world} no usable sample '
                                   f'in a full pass over its units; skips: {state.counts.as_dict()}')
            if not self.repeat:
                return

    def _resampled_stream(self, si: int, g: int, world: int, rnd: int, state: _SkipState) -> Iterator[RawSample]:
        source = self.sources[si]
        if not self.repeat:
            raise ValueError(f'ImageTextDataset: source {source.name} resamples shards (endless); it needs '
                             f'repeat=True')
        tried = set()  # shards opened since the last usable sample

        def tracked(units: Iterator[Dict[str, str]]) -> Iterator[Dict[str, str]]:
            for unit in units:
                if len(tried) >= len(source.units):
                    raise RuntimeError(f'ImageTextDataset: source {source.name} gave worker {g}/{world} no usable '
                                       f'sample from any of its {len(source.units)} shards (resampled); skips: '
                                       f'{state.counts.as_dict()}')
                tried.add(unit['url'])
                yield unit

        for raw in source.read(tracked(source.resampled_units(self._seed(_UNITS, si, rnd), g)), state.skip):
            tried.clear()
            yield raw

    # ------------------------------------------------------------------ pipeline
    def _apply(self, raw: RawSample) -> tuple:
        """Run the pipeline on one raw sample: ``(output, changes recorded by the transforms)``."""
        changes: list = []
        results: Optional[Dict[str, Any]] = dict(raw, **{CHANGES_KEY: changes})
        for t in self.transforms:
            results = t(results)
            if results is None:
                raise SkipSample('filtered_by_pipeline', type(t).__name__)
        return results, changes

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        rank, ranks, worker_id, workers = self._slot()
        rnd = self._iterations
        self._iterations += 1
        resume = None
        if self._resume is not None:  # exact resume: this physical worker plays a logical one (round-robin order)
            worker_id = logical_worker(worker_id, workers, self._resume.batches_consumed)
            resume = self._resume.for_worker(rank * workers + worker_id, ranks * workers)
            if resume is not None:
                rnd = int(resume['round'])
                self._iterations = rnd + 1
        g, world = rank * workers + worker_id, ranks * workers
        state = _SkipState(self.max_consecutive_skips)
        self.skip_counts, self.change_counts = state.counts, state.changes
        source_tag = f'{self.rank}:{worker_id}'
        warned = set()
        slot = (rank, ranks, worker_id, workers)
        streams = [self._source_stream(i, slot, rnd, state) for i in range(len(self.sources))]
        stream = streams[0] if len(streams) == 1 else \
            random_mix(streams, self.weights.tolist(), self._seed(_MIX, g, world, rnd))
        if self.shuffle_buffer > 1:
            stream = shuffle(stream, self.shuffle_buffer, np.random.default_rng([self.seed, _SHUFFLE, g, world, rnd]))
        k = 0
        if resume is not None:  # re-read the consumed raw samples without running the pipeline
            state.limit, limit = 0, state.limit
            for _ in range(int(resume['next'])):
                if next(stream, None) is None:
                    return
            state.limit, state.consecutive, k = limit, 0, int(resume['next'])
            state.counts.clear()
            state.counts.update({str(r): int(c) for r, c in resume['skip_counts'].items()})
            state.changes.clear()
            state.changes.update({str(r): int(c) for r, c in resume.get('change_counts', {}).items()})
        for raw in stream:
            index, k = k, k + 1
            try:
                with seeded_global_rngs((self.seed, g, world, rnd, index)):
                    out, changes = self._apply(raw)
            except SkipSample as e:
                state.skip(e.reason, e.detail)
                continue
            except Exception as e:  # noqa: BLE001 -- bad data must not stop training; counted and reported
                reason = f'error:{type(e).__name__}'
                if reason not in warned:
                    warned.add(reason)
                    print_log(f'ImageTextDataset: sample {raw.get("key")!r} from {raw.get("source")} failed in the '
                              f'pipeline and is skipped (counted as {reason!r}; further ones are only counted):\n'
                              f'{traceback.format_exc()}', logger='current', level=30)
                state.skip(reason, str(e))
                continue
            state.consecutive = 0
            state.changes.update(changes)
            self._attach_counts(out, state.counts, source_tag, change_counts=state.changes.as_dict(),
                                stream_pos=dict(worker=g, world=world, round=rnd, next=k))
            yield out

    @staticmethod
    def _attach_counts(out: Any, counts: SkipCounter, source_tag: str, **extra: Any) -> None:
        info = dict(skip_counts=counts.as_dict(), skip_source=source_tag, **extra)
        sample = out.get('data_samples') if isinstance(out, dict) else None
        if sample is not None and hasattr(sample, 'set_metainfo'):
            sample.set_metainfo(info)
        elif isinstance(out, dict):
            out.update(info)
