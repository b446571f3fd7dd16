"""Inspect image-caption shards: sample counts, member types, corrupt/truncated members, caption length, CLIP token
truncation, nouns per caption (optional tagging) and image decodability (optional).

    python tools/misc/inspect_shards.py 'data/cc3m/{00000..00331}.tar' --max-samples 20000 --tagger nltk --decode
"""
import argparse
import json
import sys

from mmseg_code.datasets.shard_stats import shard_statistics
from mmseg_code.datasets.webdataset_io import expand_shard_urls


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('urls', nargs='+', help='shard paths or brace/glob patterns')
    p.add_argument('--tagger', choices=['nltk', 'builtin'], help='count nouns per caption with this tagger')
    p.add_argument('--decode', action='store_true', help='decode every image (finds undecodable and tiny images)')
    p.add_argument('--max-samples', type=int, help='stop after this many samples')
    p.add_argument('--json', help='also write the report to this file')
    args = p.parse_args(argv)
    paths = expand_shard_urls(args.urls, 'inspect_shards')
    report = shard_statistics(paths, tagger=args.tagger, decode=args.decode, max_samples=args.max_samples)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, 'w') as f:
            f.write(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
