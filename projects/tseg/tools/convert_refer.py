"""Convert RefCOCO / RefCOCO+ / RefCOCOg (``refer`` layout) or PhraseCut annotations to the project's JSON
(``refs_<split>.json``, read by ``ReferSegDataset``; polygons/RLE kept, no pickle at training time).

    python projects/tseg/tools/convert_refer.py refcoco  --root data/refer --dataset refcoco  --out data/refer_json
    python projects/tseg/tools/convert_refer.py refcoco  --root data/refer --dataset refcocog --split-by umd --out ...
    python projects/tseg/tools/convert_refer.py phrasecut --root data/VGPhraseCut_v0 --out data/phrasecut_json

Writes ``<out>/<dataset>/refs_<split>.json`` for every split and prints image / ref / expression counts.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..')))

from projects.tseg.tseg.datasets.refer_format import (REFCOCO_SPLITS, dump_records, load_phrasecut,  # noqa: E402
                                                      load_refcoco)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('source', choices=('refcoco', 'phrasecut'))
    p.add_argument('--root', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--dataset', default='refcoco', choices=sorted(REFCOCO_SPLITS))
    p.add_argument('--split-by', default=None)
    p.add_argument('--splits', nargs='+', default=None)
    p.add_argument('--image-prefix', default='', help='prepended to file names (e.g. train2014/)')
    a = p.parse_args(argv)
    name = a.dataset if a.source == 'refcoco' else 'phrasecut'
    os.makedirs(osp.join(a.out, name), exist_ok=True)
    splits = a.splits or (REFCOCO_SPLITS[a.dataset] if a.source == 'refcoco' else ('train', 'val', 'test'))
    for split in splits:
        if a.source == 'refcoco':
            recs = load_refcoco(a.root, a.dataset, split, a.split_by, image_prefix=a.image_prefix)
        else:
            info = osp.join(a.root, 'image_data_split.json')
            recs = load_phrasecut(osp.join(a.root, f'refer_{split}.json'), info if osp.isfile(info) else None,
                                  image_prefix=a.image_prefix)
        path = osp.join(a.out, name, f'refs_{split}.json')
        dump_records(recs, path, source=a.source, dataset=name, split=split, split_by=a.split_by)
        n_refs = sum(len(r['refs']) for r in recs)
        n_expr = sum(len(x['sentences']) for r in recs for x in r['refs'])
        print(f'{name} {split}: {len(recs)} images, {n_refs} refs, {n_expr} expressions -> {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
