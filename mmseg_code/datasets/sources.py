"""Where image-caption pairs come from: img2dataset webdataset shards, or a folder of images plus a JSONL/CSV file.

A source lists its *units* for one pass (shards or annotation rows, permuted by a seed; or shards resampled with
replacement) and turns a sequence of units into raw samples ``{'key', 'img_bytes', 'caption', 'meta', 'source'}``,
reporting bad data through ``on_skip(reason, detail)``. Which units a rank and dataloader worker reads is decided by
``ImageTextDataset`` (webdataset-style node/worker splitters).
"""
import csv
import json
import os.path as osp
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import webdataset as wds
from mmengine.logging import print_log

from .skip import MISSING_CAPTION, MISSING_IMAGE
from .webdataset_io import RawSample, SkipFn, expand_shard_urls, raw_from_fields, shard_samples


class ShardSource:
    """img2dataset / webdataset tar shards (``{key}.jpg|png|jpeg|webp``, ``{key}.txt``, ``{key}.json``).

    Args:
        urls: shard pattern(s): braces, globs, ``a::b`` lists (webdataset's expansion), or remote URLs.
        weight: sampling weight when several sources are mixed (``wds.RandomMix`` probabilities).
        name: a label for logs and errors (defaults to the first pattern).
        resample: draw shards with replacement (``wds.ResampledShards``, endless, every worker independently)
            instead of passes over the permuted shard list split between ranks and workers.
    """

    def __init__(self, urls: Union[str, Sequence[str]], weight: float = 1.0, name: Optional[str] = None,
                 resample: bool = False) -> None:
        self.name = name or (urls if isinstance(urls, str) else urls[0])
        self.units: List[str] = expand_shard_urls(urls, self.name)
        self.weight = float(weight)
        self.resample = bool(resample)

    def pass_units(self, order: Sequence[int]) -> Iterator[Dict[str, str]]:
        """One pass over the shards in ``order`` (a permutation of their indices; ``wds.SimpleShardList``)."""
        return iter(wds.SimpleShardList([self.units[int(i)] for i in order]))

    def resampled_units(self, seed: int, worker: int) -> Iterator[Dict[str, str]]:
        """Endless shards drawn with replacement for global worker ``worker`` (``wds.ResampledShards``,
        deterministic in ``(worker, seed)``)."""
        return iter(wds.ResampledShards(self.units, seed=seed, worker_seed=lambda: worker, deterministic=True))

    def read(self, units: Iterable[Dict[str, str]], on_skip: SkipFn) -> Iterator[RawSample]:
        for fields in shard_samples(units, on_skip):
            raw = raw_from_fields(fields, self.name, on_skip)
            if raw is not None:
                yield raw


class CaptionFileSource:
    """A folder of images plus a JSONL or CSV file of captions (one pair per line/row).

    Args:
        ann_file: ``.jsonl`` (objects with the two keys below) or ``.csv`` (a header row naming the two columns).
        img_dir: folder that relative image paths are resolved against (default: the folder of ``ann_file``).
        image_key: field holding the image path.
        caption_key: field holding the caption.
        weight: sampling weight when several sources are mixed.
    """

    def __init__(self, ann_file: str, img_dir: Optional[str] = None, image_key: str = 'image',
                 caption_key: str = 'caption', weight: float = 1.0, name: Optional[str] = None) -> None:
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'ImageTextDataset: caption file {ann_file!r} does not exist')
        self.name = name or ann_file
        self.img_dir = img_dir if img_dir is not None else osp.dirname(osp.abspath(ann_file))
        self.weight = float(weight)
        self.units = self._load(ann_file, image_key, caption_key)

    @staticmethod
    def _load(ann_file: str, image_key: str, caption_key: str) -> List[Dict[str, str]]:
        rows: List[Dict[str, str]] = []
        bad: List[int] = []
        with open(ann_file, newline='', encoding='utf-8') as f:
            if ann_file.endswith(('.jsonl', '.json')):
                records = []
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        records.append((lineno, json.loads(line)))
                    except ValueError:
                        bad.append(lineno)
            elif ann_file.endswith(('.csv', '.tsv')):
                reader = csv.DictReader(f, delimiter='\t' if ann_file.endswith('.tsv') else ',')
                if reader.fieldnames is None or image_key not in reader.fieldnames:
                    raise ValueError(f'ImageTextDataset: {ann_file!r} needs a header row with columns '
                                     f'{image_key!r} and {caption_key!r}, got {reader.fieldnames}')
                records = [(i + 2, r) for i, r in enumerate(reader)]
            else:
                raise ValueError(f'ImageTextDataset: caption file {ann_file!r} must end in .jsonl, .csv or .tsv')
        for lineno, rec in records:
            if not isinstance(rec, dict) or not isinstance(rec.get(image_key), str):
                bad.append(lineno)
                continue
            cap = rec.get(caption_key)
            rows.append(dict(image=rec[image_key], caption=cap if isinstance(cap, str) else None))
        if bad:
            print_log(f'ImageTextDataset: {len(bad)} malformed rows in {ann_file} ignored (first at line {bad[0]})',
                      logger='current', level=30)
        if not rows:
            raise ValueError(f'ImageTextDataset: caption file {ann_file!r} has no usable row')
        return rows

    @property
    def resample(self) -> bool:
        return False

    def pass_units(self, order: Sequence[int]) -> Iterator[Dict[str, int]]:
        """One pass over the rows in ``order`` (a permutation of their indices)."""
        return (dict(index=int(i)) for i in order)

    def read(self, units: Iterable[Dict[str, int]], on_skip: SkipFn) -> Iterator[RawSample]:
        for unit in units:
            row = self.units[unit['index']]
            path = row['image'] if osp.isabs(row['image']) else osp.join(self.img_dir, row['image'])
            key = osp.splitext(row['image'])[0]
            if row['caption'] is None:
                on_skip(MISSING_CAPTION, key)
                continue
            try:
                with open(path, 'rb') as f:
                    img_bytes = f.read()
            except OSError:
                on_skip(MISSING_IMAGE, path)
                continue
            yield dict(key=key, img_bytes=img_bytes, caption=row['caption'], meta={}, source=self.name)


def build_source(cfg: Dict[str, Any]):
    """Build a source from a config dict: ``dict(urls=...)`` for shards or ``dict(ann_file=...)`` for a caption file."""
    cfg = dict(cfg)
    kind = cfg.pop('kind', None) or ('shards' if 'urls' in cfg else 'captions' if 'ann_file' in cfg else None)
    if kind == 'shards':
        return ShardSource(**cfg)
    if kind == 'captions':
        return CaptionFileSource(**cfg)
    raise ValueError(f"ImageTextDataset: a source needs 'urls' (tar shards) or 'ann_file' (JSONL/CSV captions), "
                     f'got keys {sorted(cfg)}')
