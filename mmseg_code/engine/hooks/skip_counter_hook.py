"""Log how many training samples were skipped as bad data, by reason, summed over dataloader workers and ranks (and
how many were kept with a change, such as a caption cut to CLIP's context)."""
from typing import Dict, Optional, Sequence

from mmengine.dist import all_gather_object, get_world_size
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


def merge_max(old: Dict[str, int], new: Dict[str, int]) -> Dict[str, int]:
    """Element-wise max of two cumulative count dicts (robust to batches arriving out of order)."""
    out = dict(old)
    for k, v in new.items():
        out[k] = max(out.get(k, 0), int(v))
    return out


@HOOKS.register_module()
class SkipCounterHook(Hook):
    """Aggregate the bad-sample counts that ``ImageTextDataset`` attaches to each data sample and log them.

    Every yielded data sample carries its worker's *cumulative* counts (``metainfo['skip_counts']``) and the worker's
    identity (``metainfo['skip_source']`` = 'rank:worker'). The hook keeps the latest counts per worker, sums them
    over the workers of this rank and, every ``interval`` iterations and after training, over all ranks
    (``all_gather_object``; all ranks call it at the same iterations), then writes one line to the training log::

        data: 12800 samples used, 57 skipped (0.44%): too_few_nouns=41, undecodable_image=9, ...; kept with changes:
        caption_truncated=12

    Samples kept with a change travel the same way (``metainfo['change_counts']``). The totals are also stored in
    ``runner.message_hub`` as info ``data_skip_counts``, ``data_change_counts`` and ``data_samples_used``.
    Skips that happen after a worker's last yielded sample are not seen (the counts travel with samples).
    """

    priority = 'LOW'

    def __init__(self, interval: int = 50) -> None:
        self.interval = int(interval)
        self._latest: Dict[str, Dict[str, int]] = {}
        self._changes: Dict[str, Dict[str, int]] = {}
        self._used = 0

    def before_train(self, runner) -> None:
        # a resumed run has already used runner.iter batches (the streams' skip counts are restored with them)
        loader = getattr(runner, 'train_dataloader', None)
        self._latest, self._changes = {}, {}
        self._used = int(getattr(runner, 'iter', 0) or 0) * int(getattr(loader, 'batch_size', 0) or 0)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        samples: Sequence = (data_batch or {}).get('data_samples') or []
        for ds in samples:
            meta = getattr(ds, 'metainfo', None)
            if meta is None or 'skip_counts' not in meta:
                continue
            src = str(meta.get('skip_source', '?'))
            self._latest[src] = merge_max(self._latest.get(src, {}), meta['skip_counts'])
            self._changes[src] = merge_max(self._changes.get(src, {}), meta.get('change_counts', {}))
        self._used += len(samples)
        if self.every_n_train_iters(runner, self.interval):
            self._log(runner)

    def after_train(self, runner) -> None:
        self._log(runner, final=True)

    def totals(self) -> tuple:
        """(used samples, {reason: count}) over all ranks. Collective when distributed."""
        return self._gather()[:2]

    def _gather(self) -> tuple:
        """(used samples, skips {reason: count}, changes {kind: count}) over all ranks. Collective when distributed."""
        def local_sum(per_source: Dict[str, Dict[str, int]]) -> Dict[str, int]:
            out: Dict[str, int] = {}
            for counts in per_source.values():
                for k, v in counts.items():
                    out[k] = out.get(k, 0) + v
            return out

        local = (self._used, local_sum(self._latest), local_sum(self._changes))
        gathered = all_gather_object(local) if get_world_size() > 1 else [local]
        used = sum(g[0] for g in gathered)
        skips: Dict[str, int] = {}
        changes: Dict[str, int] = {}
        for _, s, c in gathered:
            for total, counts in ((skips, s), (changes, c)):
                for k, v in counts.items():
                    total[k] = total.get(k, 0) + v
        return used, dict(sorted(skips.items())), dict(sorted(changes.items()))

    def _log(self, runner, final: bool = False) -> None:
        used, counts, changes = self._gather()
        skipped = sum(counts.values())
        rate = 100.0 * skipped / max(used + skipped, 1)
        detail = ', '.join(f'{k}={v}' for k, v in counts.items()) or 'none'
        prefix = 'data (end of training)' if final else 'data'
        changed = ('; kept with changes: ' + ', '.join(f'{k}={v}' for k, v in changes.items())) if changes else ''
        runner.logger.info(f'{prefix}: {used} samples used, {skipped} skipped ({rate:.2f}%): {detail}{changed}')
        runner.message_hub.update_info('data_skip_counts', counts)
        runner.message_hub.update_info('data_change_counts', changes)
        runner.message_hub.update_info('data_samples_used', used)
