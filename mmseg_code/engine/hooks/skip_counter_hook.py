"""Log how many training samples were skipped as bad data, by reason, summed over dataloader workers and ranks."""
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

        data: 12800 samples used, 57 skipped (0.44%): too_few_nouns=41, undecodable_image=9, ...

    The totals are also stored in ``runner.message_hub`` as info ``data_skip_counts`` and ``data_samples_used``.
    Skips that happen after a worker's last yielded sample are not seen (the counts travel with samples).
    """

    priority = 'LOW'

    def __init__(self, interval: int = 50) -> None:
        self.interval = int(interval)
        self._latest: Dict[str, Dict[str, int]] = {}
        self._used = 0

    def before_train(self, runner) -> None:
        # a resumed run has already used runner.iter batches (the streams' skip counts are restored with them)
        loader = getattr(runner, 'train_dataloader', None)
        self._latest = {}
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
        self._used += len(samples)
        if self.every_n_train_iters(runner, self.interval):
            self._log(runner)

    def after_train(self, runner) -> None:
        self._log(runner, final=True)

    def totals(self) -> tuple:
        """(used samples, {reason: count}) over all ranks. Collective when distributed."""
        local = {}
        for counts in self._latest.values():
            for k, v in counts.items():
                local[k] = local.get(k, 0) + v
        if get_world_size() > 1:
            gathered = all_gather_object((self._used, local))
        else:
            gathered = [(self._used, local)]
        used = sum(g[0] for g in gathered)
        total: Dict[str, int] = {}
        for _, counts in gathered:
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
        return used, dict(sorted(total.items()))

    def _log(self, runner, final: bool = False) -> None:
        used, counts = self.totals()
        skipped = sum(counts.values())
        rate = 100.0 * skipped / max(used + skipped, 1)
        detail = ', '.join(f'{k}={v}' for k, v in counts.items()) or 'none'
        prefix = 'data (end of training)' if final else 'data'
        runner.logger.info(f'{prefix}: {used} samples used, {skipped} skipped ({rate:.2f}%): {detail}')
        runner.message_hub.update_info('data_skip_counts', counts)
        runner.message_hub.update_info('data_samples_used', used)
