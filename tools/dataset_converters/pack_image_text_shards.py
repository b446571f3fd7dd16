"""Pack a folder / JSONL / CSV of image-caption pairs into img2dataset-compatible webdataset shards.

Examples::

    # images with same-name .txt captions (img2dataset 'files' layout)
    python tools/dataset_converters/pack_image_text_shards.py --folder my_pairs/ --out data/my_shards
    # a JSONL or CSV file with columns image, caption (paths relative to --img-dir or the file's folder)
    python tools/dataset_converters/pack_image_text_shards.py --ann-file pairs.jsonl --img-dir images/ \
        --out data/my_shards --shard-size 5000

The result is read with ``dict(type='ImageTextDataset', sources=dict(urls='data/my_shards/{00000..0000N}.tar'))``.
"""
import argparse
import io
import json
import os
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

from mmseg_code.datasets.sources import CaptionFileSource
from mmseg_code.datasets.webdataset_io import img2dataset_key, img2dataset_writer

IMAGE_FILE_EXTS = {'.jpg': 'jpg', '.jpeg': 'jpg', '.png': 'png', '.webp': 'webp'}


def pairs_from_folder(folder: str) -> List[Dict[str, Optional[str]]]:
    """``{'image': path, 'caption': text}`` for every image in ``folder`` (recursive) with a same-name ``.txt``
    caption next to it (img2dataset's ``files`` layout); images without one get ``caption=None`` (counted later)."""
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
                        caption_key: str = 'caption') -> List[Dict[str, Optional[str]]]:
    """Pairs from a JSONL/CSV/TSV caption file (the format of ``ImageTextDataset``'s caption-file source)."""
    src = CaptionFileSource(ann_file, img_dir=img_dir, image_key=image_key, caption_key=caption_key)
    return [dict(image=r['image'] if osp.isabs(r['image']) else osp.join(src.img_dir, r['image']),
                 caption=r['caption']) for r in src.units]


def pack_pairs(pairs: List[Dict[str, Optional[str]]], out_dir: str, shard_size: int = 10000,
               progress: bool = True) -> Dict[str, Any]:
    """Write the pairs as img2dataset shards with ``wds.ShardWriter``. Image bytes are copied unchanged (their header
    is read to check them and to record width/height); unreadable images and missing captions are left out and
    counted. Returns ``dict(written=int, skipped={reason: count}, shards=[paths])``."""
    from PIL import Image
    from tqdm import tqdm
    skipped: Dict[str, int] = {}
    written = 0
    with img2dataset_writer(out_dir, maxcount=shard_size) as writer:
        for pair in tqdm(pairs, desc='packing', unit='img', disable=not progress):
            caption = pair.get('caption')
            if caption is None or not caption.strip():
                skipped['missing_caption'] = skipped.get('missing_caption', 0) + 1
                continue
            try:
                with open(pair['image'], 'rb') as f:
                    data = f.read()
                with Image.open(io.BytesIO(data)) as im:
                    width, height = im.size
                    fmt = (im.format or '').lower()
            except Exception:  # noqa: BLE001 -- any unreadable file is counted and left out
                skipped['unreadable_image'] = skipped.get('unreadable_image', 0) + 1
                continue
            ext = {'jpeg': 'jpg', 'png': 'png', 'webp': 'webp'}.get(
                fmt, IMAGE_FILE_EXTS.get(osp.splitext(pair['image'])[1].lower(), 'jpg'))
            key = img2dataset_key(writer)
            writer.write({'__key__': key, ext: data, 'txt': caption.strip(),
                          'json': dict(key=key, caption=caption.strip(), status='success', width=width,
                                       height=height, original_width=width, original_height=height,
                                       url=osp.abspath(pair['image']))})
            written += 1
    shards = writer.written if written else []
    for path in writer.written[len(shards):]:  # nothing written: remove the empty shard ShardWriter opened
        os.remove(path)
        os.remove(osp.splitext(path)[0] + '_stats.json')
    return dict(written=written, skipped=skipped, shards=shards)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--folder', help='folder of images with same-name .txt captions (searched recursively)')
    src.add_argument('--ann-file', help='.jsonl / .csv / .tsv file of image paths and captions')
    p.add_argument('--img-dir', help='folder the paths of --ann-file are relative to (default: its folder)')
    p.add_argument('--image-key', default='image', help='field/column of the image path')
    p.add_argument('--caption-key', default='caption', help='field/column of the caption')
    p.add_argument('--out', required=True, help='output folder for {00000..}.tar shards')
    p.add_argument('--shard-size', type=int, default=10000, help='samples per shard (img2dataset default 10000)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.folder:
        pairs = pairs_from_folder(args.folder)
    else:
        pairs = pairs_from_ann_file(args.ann_file, args.img_dir, args.image_key, args.caption_key)
    if not pairs:
        print(f'no image found in {args.folder or args.ann_file}', file=sys.stderr)
        return 1
    stats = pack_pairs(pairs, args.out, shard_size=args.shard_size)
    n = len(stats['shards'])
    print(json.dumps(dict(written=stats['written'], skipped=stats['skipped'], shards=n), indent=None))
    if n:
        print(f"urls pattern: {args.out}/{{00000..{n - 1:05d}}}.tar")
    return 0 if stats['written'] else 1


if __name__ == '__main__':
    sys.exit(main())
