"""Write COCO-Object label maps (``*_instanceTrainIds.png``) from the COCO-Stuff-164k stuffthingmaps.

    python tools/dataset_converters/coco_object.py data/coco_stuff164k [--splits val2017] [--nproc 8]

Input: ``<root>/annotations/<split>/<id>.png``, the official COCO-Stuff-164k ``stuffthingmaps_trainval2017.zip``
PNGs (value = COCO category id − 1, 255 = unlabelled), exactly what mmseg's
``tools/dataset_converters/coco_stuff164k.py`` reads. Files whose name contains ``TrainIds`` (outputs of either
converter) are skipped. Output, next to each input: ``<id>_instanceTrainIds.png`` (uint8):

    0        background: every stuff class and the unlabelled value 255 (no ignored pixels, as GroupViT/TCL)
    1 … 80   the 80 COCO thing categories in COCO-Stuff order (person, bicycle, …, toothbrush)

No pycocotools needed: the instance JSON is not read (neither does the official GroupViT/TCL conversion).
Run mmseg's converter too for COCO-Stuff-171 (``*_labelTrainIds.png``); both sets live side by side.
"""
import argparse
import os.path as osp
import sys
from functools import partial
from glob import glob

import numpy as np
from mmengine.utils import track_parallel_progress, track_progress
from PIL import Image

# COCO category ids (1-based) of the 80 thing classes, in COCO-Stuff / COCOObjectDataset order.
COCO_THING_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32,
                  33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58,
                  59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88,
                  89, 90)
assert len(COCO_THING_IDS) == 80

SUFFIX = '_instanceTrainIds.png'


def lookup_table() -> np.ndarray:
    """256-entry map stuffthingmap value → COCO-Object label."""
    lut = np.zeros(256, dtype=np.uint8)
    for train_id, coco_id in enumerate(COCO_THING_IDS, start=1):
        lut[coco_id - 1] = train_id
    return lut


LUT = lookup_table()


def convert_mask(mask: np.ndarray) -> np.ndarray:
    """Stuffthingmap (uint8, value = COCO id − 1, 255 unlabelled) → COCO-Object labels 0..80."""
    if mask.dtype != np.uint8:
        if mask.min() < 0 or mask.max() > 255:
            raise ValueError(f'stuffthingmap values must lie in 0..255, got {mask.min()}..{mask.max()}')
        mask = mask.astype(np.uint8)
    return LUT[mask]


def output_path(path: str) -> str:
    return osp.splitext(path)[0] + SUFFIX


def convert_file(path: str, overwrite: bool = True) -> str:
    out = output_path(path)
    if overwrite or not osp.exists(out):
        Image.fromarray(convert_mask(np.array(Image.open(path)))).save(out)
    return out


def find_masks(root: str, splits) -> list:
    files = []
    for split in splits:
        folder = osp.join(root, 'annotations', split)
        if not osp.isdir(folder):
            raise FileNotFoundError(f'{folder} does not exist: unzip stuffthingmaps_trainval2017.zip into '
                                    f'{osp.join(root, "annotations")} (see docs/evaluation.md)')
        files += sorted(p for p in glob(osp.join(folder, '*.png')) if 'TrainIds' not in osp.basename(p))
    return files


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='COCO-Stuff-164k stuffthingmaps -> COCO-Object *_instanceTrainIds.png')
    p.add_argument('coco_path', help='COCO-Stuff-164k root (with annotations/<split>/*.png)')
    p.add_argument('--splits', nargs='+', default=['train2017', 'val2017'], help='annotation sub-folders')
    p.add_argument('--nproc', type=int, default=1, help='worker processes')
    p.add_argument('--skip-existing', action='store_true', help='keep label maps already written')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    files = find_masks(args.coco_path, args.splits)
    if not files:
        print(f'no stuffthingmap PNG found under {args.coco_path}/annotations/{{{",".join(args.splits)}}}')
        return 1
    fn = partial(convert_file, overwrite=not args.skip_existing)
    if args.nproc > 1:
        track_parallel_progress(fn, files, args.nproc)
    else:
        track_progress(fn, files)
    print(f'\nwrote {len(files)} COCO-Object label maps (*{SUFFIX}) under {args.coco_path}/annotations')
    return 0


if __name__ == '__main__':
    sys.exit(main())
