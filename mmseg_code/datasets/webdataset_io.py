"""webdataset stages that read img2dataset shards with every skipped member, sample and shard counted by reason.

Reading a shard is webdataset's ``tarfile_to_samples`` chain, ``url_opener -> tar_file_expander -> group_by_keys``,
with one handler per stage that counts what it drops (:func:`shard_samples`):

* ``wds.tariterators.url_opener`` (``gopen``: local paths, ``pipe:``, http via curl) -- a shard that cannot be opened
  is counted as ``unreadable_shard``;
* :func:`tar_members` instead of ``wds.tariterators.tar_file_expander`` -- deliberately not webdataset's: it opens
  the stream with ``tarfile.open(mode='r|*')``, and Python's tarfile in that mode ends the archive *silently* at the
  first header with a bad checksum (no exception reaches the handler; measured with webdataset 1.0.2: everything
  after a corrupt header of a shard is lost without a trace). Here ``tarfile`` opens the shard with
  ``ignore_zeros=True`` (in random-access mode when the shard is a seekable uncompressed file, which is faster),
  which makes tarfile step block by block to the next valid header, and a ``TarInfo`` subclass (tarfile's
  ``tarinfo=`` parameter) reports each run of invalid header blocks once as ``corrupt_tar_header`` and a header cut
  by the end of the file as ``truncated_tar``; a member whose data the file ends inside is ``truncated_tar``, an
  ``OSError`` while reading is ``unreadable_shard`` (both end that shard);
* ``wds.tariterators.group_by_keys`` -- a member repeating an extension of the current sample raises there and is
  counted as ``duplicate_member`` (the first one wins);
* :func:`raw_from_fields` -- the webdataset sample as the raw sample the transforms read (``missing_image``,
  ``missing_caption``).

Also here: shard patterns (webdataset's brace/``::`` expansion plus globs and a check that local files exist),
the rank/worker splitters with explicit ids, the stage that gives ``wds.RandomMix`` its own random stream, and
``wds.ShardWriter`` set up to write img2dataset's layout (:func:`img2dataset_writer`).
"""
import glob
import json
import os
import os.path as osp
import random
import tarfile
from contextlib import suppress
from itertools import islice
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np
import webdataset as wds
from mmengine.logging import print_log
from webdataset.shardlists import expand_urls as wds_expand_urls
from webdataset.tariterators import group_by_keys, url_opener

from .skip import (CORRUPT_TAR_HEADER, DUPLICATE_MEMBER, MISSING_CAPTION, MISSING_IMAGE, TRUNCATED_TAR,
                   UNREADABLE_SHARD)

IMAGE_EXTS = ('jpg', 'jpeg', 'png', 'webp')
CAPTION_EXTS = ('txt', 'text')

SkipFn = Callable[[str, str], None]
RawSample = Dict[str, Any]


# ---------------------------------------------------------------------------------------------------- shard lists
def _is_local(url: str) -> bool:
    return '://' not in url and not url.startswith(('pipe:', 'file:'))


def expand_shard_urls(urls: Union[str, Sequence[str]], name: str = 'source') -> List[str]:
    """Shard list of ``urls``: webdataset's expansion (braces ``{00000..00331}``, ``a::b`` lists, ``${WDS_*}``
    variables) and, for local paths, globs and an existence check.

    Missing local expansions are tolerated (img2dataset leaves gaps when a shard fails) with one warning; patterns
    that match no file at all raise ``FileNotFoundError``. Remote URLs (``http://``, ``pipe:``) are kept as given.
    """
    patterns = [urls] if isinstance(urls, str) else list(urls)
    if not patterns:
        raise ValueError(f'ImageTextDataset {name}: empty list of shard patterns')
    found: List[str] = []
    missing: List[str] = []
    for pattern in patterns:
        for url in wds_expand_urls(pattern):
            if not _is_local(url):
                found.append(url)
                continue
            path = osp.expanduser(url)
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


def split_by_node(src: Iterable, rank: int, world_size: int) -> Iterator:
    """``wds.split_by_node`` with the rank given: item ``i`` goes to rank ``i % world_size``.

    webdataset's splitters read the rank from ``torch.distributed`` and the worker from ``get_worker_info()``; the
    dataset passes them explicitly because exact resume needs the *logical* worker id (the DataLoader's round-robin
    rotated, see :mod:`.stream_state`) and tools/tests may fix the rank without a process group."""
    return islice(src, rank, None, world_size)


def split_by_worker(src: Iterable, worker: int, num_workers: int) -> Iterator:
    """``wds.split_by_worker`` with the (logical) worker id given; see :func:`split_by_node`."""
    return islice(src, worker, None, num_workers)


# --------------------------------------------------------------------------------------------------- tar reading
class _Handler:
    """A webdataset exception handler that counts what its stage drops under ``reason`` and continues."""

    def __init__(self, on_skip: SkipFn, reason: str) -> None:
        self.on_skip = on_skip
        self.reason = reason

    def __call__(self, exn: Exception) -> bool:
        self.on_skip(self.reason, f'{type(exn).__name__}: {exn}'[:300])
        return True


def _reporting_tarinfo(on_skip: SkipFn, url: str) -> type:
    """A ``tarfile.TarInfo`` class for one shard whose header parsing reports bad headers (see the module doc)."""
    state = dict(in_bad_run=False)

    class ShardTarInfo(tarfile.TarInfo):
        @classmethod
        def frombuf(cls, buf, encoding, errors):
            try:
                info = super().frombuf(buf, encoding, errors)
            except tarfile.TruncatedHeaderError:
                on_skip(TRUNCATED_TAR, f'{url}: header cut by the end of the file')
                raise
            except tarfile.InvalidHeaderError as e:
                if not state['in_bad_run']:  # tarfile tries each following block: one report per corrupt header
                    on_skip(CORRUPT_TAR_HEADER, f'{url}: {e}')
                    state['in_bad_run'] = True
                raise
            state['in_bad_run'] = False
            return info

    return ShardTarInfo


_COMPRESSED_MAGIC = (b'\x1f\x8b', b'BZh', b'\xfd7zXZ\x00')


def _tar_mode(stream) -> str:
    """``'r:'`` (random access: member bytes are read in place, not copied through tarfile's stream buffer) for a
    seekable uncompressed tar; ``'r|*'`` (webdataset's mode: sequential, compression detected) for pipes, HTTP and
    compressed shards."""
    seekable, peek = getattr(stream, 'seekable', None), getattr(stream, 'peek', None)
    try:
        if seekable is not None and peek is not None and seekable():
            return 'r|*' if peek(6)[:6].startswith(_COMPRESSED_MAGIC) else 'r:'
    except (OSError, ValueError):
        pass
    return 'r|*'


def tar_members(data: Iterable[Dict[str, Any]], on_skip: SkipFn) -> Iterator[Dict[str, Any]]:
    """Stage: opened shards ``dict(url, stream)`` -> ``dict(fname, data, __url__)`` per regular member, then ``{}``
    at the end of each shard (``group_by_keys``' end-of-shard marker). Replaces ``tar_file_expander``; why and what
    is counted: module doc."""
    for source in data:
        url, stream = source['url'], source['stream']
        try:
            mode = _tar_mode(stream)
            tar = tarfile.open(fileobj=stream, mode=mode, ignore_zeros=True, tarinfo=_reporting_tarinfo(on_skip, url))
            for info in tar:
                tar.members = []  # as webdataset: do not keep every header of the shard
                if not info.isreg():
                    continue  # directories, links: not data
                if mode == 'r:' and not info.issparse():  # random access: the member's bytes in place
                    stream.seek(info.offset_data)
                    payload = stream.read(info.size)
                    cut = len(payload) < info.size
                else:
                    try:
                        payload, cut = tar.extractfile(info).read(), False
                    except tarfile.ReadError:
                        cut = True
                if cut:
                    on_skip(TRUNCATED_TAR, f'{url}: member {info.name} cut by the end of the file')
                    break
                yield dict(fname=info.name, data=payload, __url__=url)
        except tarfile.ReadError as e:  # empty file, a tar ending inside a member it skips, broken compression
            on_skip(TRUNCATED_TAR if 'unexpected end' in str(e) else UNREADABLE_SHARD, f'{url}: {e}')
        except OSError as e:  # I/O error mid-shard (vanished network file, EIO): counted, go on with the next shard
            on_skip(UNREADABLE_SHARD, f'{url}: read failed: {e}')
        finally:
            with suppress(Exception):
                stream.close()
        yield {}


def shard_samples(urls: Iterable[Dict[str, Any]], on_skip: SkipFn) -> Iterator[Dict[str, Any]]:
    """``dict(url=...)`` items -> webdataset samples ``{'__key__', '__url__', ext: bytes, ...}`` (see module doc)."""
    opened = url_opener(urls, handler=_Handler(on_skip, UNREADABLE_SHARD))
    return group_by_keys(tar_members(opened, on_skip), handler=_Handler(on_skip, DUPLICATE_MEMBER))


def raw_from_fields(fields: Dict[str, Any], source: str, on_skip: SkipFn) -> Optional[RawSample]:
    """A webdataset sample (``ext -> bytes``) as a raw sample ``dict(key, img_bytes, caption, meta, source,
    shard)``; ``None`` (after ``on_skip``) when it has no image or no caption."""
    key = fields['__key__']
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
    return dict(key=key, img_bytes=fields[img_ext], caption=caption, meta=meta, source=source,
                shard=fields.get('__url__'))


def read_shards(paths: Sequence[str], on_skip: SkipFn) -> Iterator[Dict[str, Any]]:
    """One pass over ``paths`` in order (no split, no shuffle): webdataset samples, for inspection tools."""
    return shard_samples(wds.SimpleShardList(list(paths)), on_skip)


# -------------------------------------------------------------------------------------------------------- mixing
def own_python_random(stream: Iterator, seed: int) -> Iterator:
    """Stage: run ``stream`` with Python's global ``random`` set to a generator of its own, seeded by ``seed``.

    ``wds.RandomMix`` draws its source choices from the global ``random`` module. Wrapping its iterator here makes
    the mix a fixed function of ``seed`` (exact resume) and leaves the caller's global state as it was."""
    state = random.Random(seed).getstate()
    while True:
        outer = random.getstate()
        random.setstate(state)
        try:
            item = next(stream)
        except StopIteration:
            return
        finally:
            state = random.getstate()
            random.setstate(outer)
        yield item


def random_mix(streams: List[Iterator], weights: Sequence[float], seed: int) -> Iterator:
    """``wds.RandomMix`` of ``streams`` with probabilities ``weights`` until all are exhausted, seeded."""
    mix = wds.RandomMix(streams, probs=[float(w) for w in weights], longest=True)
    return own_python_random(iter(mix), seed)


class _GeneratorRandint:
    """The one method ``wds.shuffle`` draws from (``randint(a, b)``, both ends included), on a numpy ``Generator``."""

    def __init__(self, generator: np.random.Generator) -> None:
        self.generator = generator

    def randint(self, a: int, b: int) -> int:
        return a + int(self.generator.integers(b - a + 1))


def shuffle(stream: Iterable, bufsize: int, generator: np.random.Generator) -> Iterator:
    """``wds.shuffle`` with a buffer of ``bufsize`` samples (filled before the first sample leaves): each new sample
    sends out the one at ``generator.integers(len(buffer))``, which the last one replaces."""
    return wds.shuffle(bufsize, initial=bufsize, rng=_GeneratorRandint(generator))(stream)


# ------------------------------------------------------------------------------------------------------- writing
def img2dataset_writer(out_dir: str, maxcount: int = 10000) -> wds.ShardWriter:
    """A ``wds.ShardWriter`` writing img2dataset's layout: ``{out_dir}/{shard:05d}.tar`` of at most ``maxcount``
    samples (no size limit, so shards follow the count as img2dataset's ``number_sample_per_shard``), plus a
    ``{shard:05d}_stats.json`` per finished shard; member times are 0 (identical input gives identical files).

    Name the samples with :func:`img2dataset_key`. The finished shard paths are in ``writer.written``."""
    if maxcount < 1:
        raise ValueError(f'img2dataset_writer: maxcount must be >= 1, got {maxcount}')
    os.makedirs(out_dir, exist_ok=True)
    written: List[str] = []

    def post(fname: str) -> None:
        n = writer.count  # still the finished shard's count when ShardWriter calls post
        with open(osp.splitext(fname)[0] + '_stats.json', 'w') as f:
            json.dump(dict(count=n, successes=n, failed_to_download=0, failed_to_resize=0), f)
        written.append(fname)

    writer = wds.ShardWriter(osp.join(out_dir, '%05d.tar'), maxcount=maxcount, maxsize=float('inf'), post=post,
                             verbose=0, mtime=0, mode=0o644)
    writer.written = written
    return writer


def img2dataset_key(writer: wds.ShardWriter) -> str:
    """The key img2dataset gives the next sample of ``writer``: shard number (5 digits) + index in the shard."""
    digits = max(4, len(str(writer.maxcount - 1)))
    shard, index = (writer.shard, 0) if writer.count >= writer.maxcount else (writer.shard - 1, writer.count)
    return f'{shard:05d}{index:0{digits}d}'


__all__ = ['img2dataset_writer', 'img2dataset_key', 'expand_shard_urls', 'split_by_node', 'split_by_worker',
           'tar_members', 'shard_samples', 'raw_from_fields', 'read_shards', 'own_python_random', 'random_mix',
           'shuffle']
