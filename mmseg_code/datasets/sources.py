"""Where image-caption pairs come from: img2dataset webdataset shards, or a folder of images plus a JSONL/CSV file.

A source is split into *units* (a shard, or one annotation row). Each ``read_unit`` call turns one unit into raw
samples ``{'key', 'img_bytes', 'caption', 'meta', 'source'}`` and reports bad data through ``on_skip(reason, detail)``.
Splitting units between ranks and dataloader workers is done by the dataset, not here.
"""
import csv
import glob
import io
import json
import os
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from braceexpand import braceexpand
from mmengine.logging import print_log

from .skip import MISSING_CAPTION, MISSING_IMAGE, UNREADABLE_SHARD
from .tar_stream import SkipFn, iter_tar_samples

IMAGE_EXTS = ('jpg', 'jpeg', 'png', 'webp')
CAPTION_EXTS = ('txt', 'text')

RawSample = Dict[str, Any]


def expand_urls(urls: Union[str, Sequence[str]], name: str = 'source') -> List[str]:
    """Expand brace patterns (``cc3m/{00000..00331}.tar``) and globs into the list of existing shard files.

    Missing expansions are tolerated (img2dataset leaves gaps when a shard fails) with one warning; an expansion that
    matches no file at all raises ``FileNotFoundError``.
    """
    patterns = [urls] if isinstance(urls, str) else list(urls)
    if not patterns:
        raise ValueError(f'ImageTextDataset {name}: empty list of shard patterns')
    found: List[str] = []
    missing: List[str] = []
    for pattern in patterns:
        for path in braceexpand(os.path.expanduser(pattern)):
            if glob.has_magic(path):
                found.extend(sorted(glob.glob(path)))
            elif osp.isfile(path):
                found.append(path)
            else:
                missing.append(path)
    if not found:
        raise FileNotFoundError(
            f'ImageTextDataset {name}: shard pattern {patterns!r} matched no file '
            f'(first expansion tried: {missing[0] if missing else patterns[0]!r})')
    if missing:
        print_log(f'ImageTextDataset {name}: {len(missing)} of {len(missing) + len(found)} shards do not exist and '
                  f'are ignored (first: {missing[0]})', logger='current', level=30)
    return found


def raw_from_fields(fields: Dict[str, bytes], key: str, source: str, on_skip: SkipFn) -> Optional[RawSample]:
    """Turn a webdataset sample (``ext -> bytes``) into a raw sample; ``None`` (after ``on_skip``) when unusable."""
    img_ext = next((e for e in IMAGE_EXTS if e in fields), None)
    if img_ext is None:
        on_skip(MISSING_IMAGE, key)
        return None
    meta: Dict[str, Any] = {}
    if 'json' in fields:
        try:
            loaded = json.loads(fields['json'])
            meta = loaded if isinstance(loaded, dict) else {}
        except (ValueError, UnicodeDecodeError):
            meta = {}  # metadata is optional; a broken json does not make the pair unusable
    cap_ext = next((e for e in CAPTION_EXTS if e in fields), None)
    if cap_ext is not None:
        caption = fields[cap_ext].decode('utf-8', errors='replace')
    elif isinstance(meta.get('caption'), str):
        caption = meta['caption']
    else:
        on_skip(MISSING_CAPTION, key)
        return None
    return dict(key=key, img_bytes=fields[img_ext], caption=caption, meta=meta, source=source)


class ShardSource:
    """img2dataset / webdataset tar shards (``{key}.jpg|png|jpeg``, ``{key}.txt``, ``{key}.json``).

    Args:
        urls: shard path pattern(s) with braces or globs.
        weight: sampling weight when several sources are mixed.
        name: a label for logs and errors (defaults to the first pattern).
    """

    def __init__(self, urls: Union[str, Sequence[str]], weight: float = 1.0, name: Optional[str] = None) -> None:
        self.name = name or (urls if isinstance(urls, str) else urls[0])
        self.units: List[str] = expand_urls(urls, self.name)
        self.weight = float(weight)

    def read_unit(self, index: int, on_skip: SkipFn) -> Iterator[RawSample]:
        path = self.units[index]
        try:
            f = open(path, 'rb')
        except OSError as e:
            on_skip(UNREADABLE_SHARD, f'{path}: {e}')
            return
        with f:
            try:
                for fields in iter_tar_samples(io.BufferedReader(f, 1 << 20), on_skip):
                    raw = raw_from_fields(fields, fields['__key__'], self.name, on_skip)
                    if raw is not None:
                        raw['shard'] = path
                        yield raw
            except OSError as e:  # I/O error mid-shard (vanished network file, EIO): count it, go on with the next
                on_skip(UNREADABLE_SHARD, f'{path}: read failed mid-shard: {e}')


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

    def read_unit(self, index: int, on_skip: SkipFn) -> Iterator[RawSample]:
        row = self.units[index]
        path = row['image'] if osp.isabs(row['image']) else osp.join(self.img_dir, row['image'])
        key = osp.splitext(row['image'])[0]
        if row['caption'] is None:
            on_skip(MISSING_CAPTION, key)
            return
        try:
            with open(path, 'rb') as f:
                img_bytes = f.read()
        except OSError:
            on_skip(MISSING_IMAGE, path)
            return
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
