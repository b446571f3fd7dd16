"""Write the generated referring benchmark (synthetic shapes + referring expressions) for the tiny TSEG configs.

    python projects/tseg/tools/make_synthetic_refer.py --out data/tseg_shapes_refer [--num-train 512 --num-val 64]

Layout: ``images/``, ``instances/`` (instance PNGs), ``refs_train.json``, ``refs_val.json`` (project JSON, read by
``ReferSegDataset``).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..')))

from mmseg_code.datasets.synthetic_shapes import ShapesConfig  # noqa: E402

from projects.tseg.tseg.datasets.synthetic_refer import write_referring_benchmark  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='data/tseg_shapes_refer')
    p.add_argument('--num-train', type=int, default=512)
    p.add_argument('--num-val', type=int, default=64)
    p.add_argument('--image-size', type=int, default=64)
    p.add_argument('--max-objects', type=int, default=3)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    cfg = ShapesConfig(image_size=a.image_size, max_objects=a.max_objects, seed=a.seed)
    for name, n, idx in (('train', a.num_train, 0), ('val', a.num_val, 1)):
        path = write_referring_benchmark(cfg, a.out, n, split_name=name, split_index=idx)
        print(f'{name}: {n} images -> {path}')


if __name__ == '__main__':
    main()
