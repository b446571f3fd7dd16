"""Generate synthetic coloured-shape data: image-caption shards for training and a VOC-layout benchmark.

    python tools/dataset_converters/make_synthetic_shapes.py --out data/synthetic_shapes \
        --num-train 4000 --num-val 200 --image-size 64 --seed 0

writes ``<out>/shards/{00000..}.tar`` (``.jpg``, ``.txt`` caption, ``.json`` objects, ``.seg.png`` mask) and
``<out>/seg/`` (``JPEGImages/``, ``SegmentationClass/``, ``ImageSets/Segmentation/val.txt``, ``class_names.txt``),
matching ``configs/_base_/datasets/synthetic_shapes_{captions,seg}.py``. Output is identical for identical arguments.
"""
import argparse
import json
import os.path as osp
import sys
import time

from mmseg_code.datasets.synthetic_shapes import (COLOURS, SHAPES, ShapesConfig, write_caption_shards,
                                                  write_seg_benchmark)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True, help='output root')
    p.add_argument('--num-train', type=int, default=4000, help='image-caption pairs in the shards')
    p.add_argument('--num-val', type=int, default=200, help='images of the segmentation benchmark (0: none)')
    p.add_argument('--image-size', type=int, default=64)
    p.add_argument('--shapes', default='circle,square,triangle,star', help=f'comma list from {",".join(SHAPES)}')
    p.add_argument('--colours', default='red,green,blue,yellow', help=f'comma list from {",".join(COLOURS)}')
    p.add_argument('--min-objects', type=int, default=1)
    p.add_argument('--max-objects', type=int, default=2)
    p.add_argument('--colour-mode', choices=['random', 'per_class'], default='random',
                   help="'per_class': each shape always has the same colour (an easier task)")
    p.add_argument('--shard-size', type=int, default=1000)
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = ShapesConfig(image_size=args.image_size, shapes=args.shapes.split(','), colours=args.colours.split(','),
                       min_objects=args.min_objects, max_objects=args.max_objects, colour_mode=args.colour_mode,
                       seed=args.seed)
    t0 = time.time()
    shards = write_caption_shards(cfg, osp.join(args.out, 'shards'), args.num_train, args.shard_size) \
        if args.num_train > 0 else []
    if args.num_val > 0:
        write_seg_benchmark(cfg, osp.join(args.out, 'seg'), args.num_val)
    with open(osp.join(args.out, 'generator_args.json'), 'w') as f:
        json.dump(vars(args), f, indent=1)
    print(f'{args.num_train} pairs in {len(shards)} shards, {args.num_val} benchmark images, classes '
          f'{cfg.class_names}, {time.time() - t0:.1f}s -> {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
