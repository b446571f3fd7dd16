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
import json
import sys

from mmseg_code.datasets.shard_writer import pack_pairs, pairs_from_ann_file, pairs_from_folder


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
