"""Write img2dataset-compatible webdataset shards: ``{shard:05d}.tar`` holding ``{key}.jpg``, ``{key}.txt``,
``{key}.json`` (and any further ``{key}.<ext>`` members), keys ``{shard:05d}{index:04d}`` as img2dataset names them,
plus a ``{shard:05d}_stats.json`` per shard."""
import io
import json
import os
import os.path as osp
import tarfile
from typing import Any, Dict, List, Optional, Union

FieldValue = Union[bytes, str, Dict[str, Any]]


class ShardWriter:
    """Append samples to numbered tar shards of at most ``maxcount`` samples each.

    Args:
        out_dir: output folder (created).
        maxcount: samples per shard (img2dataset's ``number_sample_per_shard``, default 10000).
        start_shard: number of the first shard.
    """

    def __init__(self, out_dir: str, maxcount: int = 10000, start_shard: int = 0) -> None:
        if maxcount < 1:
            raise ValueError(f'ShardWriter: maxcount must be >= 1, got {maxcount}')
        self.out_dir = out_dir
        self.maxcount = int(maxcount)
        self.shard = int(start_shard) - 1
        self.count_in_shard = maxcount
        self.tar: Optional[tarfile.TarFile] = None
        self.paths: List[str] = []
        self.total = 0
        self._key_digits = max(4, len(str(maxcount - 1)))
        os.makedirs(out_dir, exist_ok=True)

    def next_key(self) -> str:
        """The key img2dataset would give the next sample."""
        shard, index = (self.shard + 1, 0) if self.count_in_shard >= self.maxcount else (self.shard,
                                                                                       self.count_in_shard)
        return f'{shard:05d}{index:0{self._key_digits}d}'

    def _open_next(self) -> None:
        self._close_current()
        self.shard += 1
        self.count_in_shard = 0
        path = osp.join(self.out_dir, f'{self.shard:05d}.tar')
        self.tar = tarfile.open(path, 'w', format=tarfile.PAX_FORMAT)
        self.paths.append(path)

    def _close_current(self) -> None:
        if self.tar is not None:
            self.tar.close()
            with open(osp.join(self.out_dir, f'{self.shard:05d}_stats.json'), 'w') as f:
                json.dump(dict(count=self.count_in_shard, successes=self.count_in_shard, failed_to_download=0,
                               failed_to_resize=0), f)
            self.tar = None

    def write(self, fields: Dict[str, FieldValue], key: Optional[str] = None) -> str:
        """Write one sample; ``fields`` maps extension -> bytes/str/dict (dicts become JSON). Returns its key."""
        if self.count_in_shard >= self.maxcount or self.tar is None:
            key = key or self.next_key()
            self._open_next()
        key = key or self.next_key()
        for ext, value in fields.items():
            if isinstance(value, dict):
                value = json.dumps(value, ensure_ascii=False)
            data = value.encode('utf-8') if isinstance(value, str) else bytes(value)
            info = tarfile.TarInfo(f'{key}.{ext}')
            info.size = len(data)
            info.mtime = 0  # reproducible shards
            info.mode = 0o644
            self.tar.addfile(info, io.BytesIO(data))  # type: ignore[union-attr]
        self.count_in_shard += 1
        self.total += 1
        return key

    def close(self) -> None:
        self._close_current()

    def __enter__(self) -> 'ShardWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


IMAGE_FILE_EXTS = {'.jpg': 'jpg', '.jpeg': 'jpg', '.png': 'png', '.webp': 'webp'}


def pairs_from_folder(folder: str) -> List[Dict[str, str]]:
    """``{'image': path, 'caption': text}`` for every image in ``folder`` (recursive) that has a same-name ``.txt``
    caption next to it (the layout of img2dataset's ``files`` output). Images without a caption are returned with
    ``caption=None`` so the packer can count them."""
    pairs = []
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            stem, ext = osp.splitext(name)
            if ext.lower() not in IMAGE_FILE_EXTS:
                continue
            txt = osp.join(root, stem + '.txt')
            caption = None
            if osp.isfile(txt):
                with open(txt, encoding='utf-8', errors='replace') as f:
                    caption = f.read()
            pairs.append(dict(image=osp.join(root, name), caption=caption))
    pairs.sort(key=lambda p: p['image'])
    return pairs


def pairs_from_ann_file(ann_file: str, img_dir: Optional[str] = None, image_key: str = 'image',
                        caption_key: str = 'caption') -> List[Dict[str, str]]:
    """Pairs from a JSONL/CSV/TSV caption file (same format as ``ImageTextDataset``'s caption-file source)."""
    from .sources import CaptionFileSource
    src = CaptionFileSource(ann_file, img_dir=img_dir, image_key=image_key, caption_key=caption_key)
    return [dict(image=r['image'] if osp.isabs(r['image']) else osp.join(src.img_dir, r['image']),
                 caption=r['caption']) for r in src.units]


def pack_pairs(pairs: List[Dict[str, Optional[str]]], out_dir: str, shard_size: int = 10000,
               progress: bool = True) -> Dict[str, Any]:
    """Pack image files + captions into img2dataset shards. Image bytes are copied unchanged (their header is read
    to check them and to record width/height); unreadable images and missing captions are left out and counted.

    Returns ``dict(written=int, skipped={reason: count}, shards=[paths])``.
    """
    from PIL import Image
    from tqdm import tqdm
    skipped: Dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    with ShardWriter(out_dir, maxcount=shard_size) as writer:
        for pair in tqdm(pairs, desc='packing', unit='img', disable=not progress):
            caption = pair.get('caption')
            if caption is None or not caption.strip():
                skip('missing_caption')
                continue
            ext = IMAGE_FILE_EXTS.get(osp.splitext(pair['image'])[1].lower())
            try:
                with open(pair['image'], 'rb') as f:
                    data = f.read()
                with Image.open(io.BytesIO(data)) as im:
                    width, height = im.size
                    fmt = (im.format or '').lower()
            except Exception:  # noqa: BLE001 -- any unreadable file is counted and left out
                skip('unreadable_image')
                continue
            ext = {'jpeg': 'jpg', 'png': 'png', 'webp': 'webp'}.get(fmt, ext)
            key = writer.next_key()
            writer.write({ext or 'jpg': data, 'txt': caption.strip(),
                          'json': dict(key=key, caption=caption.strip(), status='success', width=width,
                                       height=height, original_width=width, original_height=height,
                                       url=osp.abspath(pair['image']))}, key=key)
    return dict(written=writer.total, skipped=skipped, shards=writer.paths)
