"""Memory of the sample-level shuffle buffer of ``ImageTextDataset`` per dataloader worker.

    python benchmarks/shuffle_buffer_memory.py                         # 224 and 512 px shards, buffer 10000
    python benchmarks/shuffle_buffer_memory.py --sizes 512 --buffer 10000 40000

For each image size it writes img2dataset-style shards (``{key}.jpg`` JPEG quality 95 as img2dataset encodes,
``{key}.txt``, ``{key}.json``) of ``size × 4/3·size`` images (img2dataset ``--resize_mode keep_ratio`` makes the short
side ``size``; CC3M photos are mostly 4:3). The pixels are a smooth random colour field plus noise, so the JPEG
sizes are close to photos (printed: bytes per sample); 64 distinct images are repeated. Then, for each buffer size, a
fresh Python process (what a dataloader worker runs) iterates the dataset without a pipeline, so the buffer holds
raw samples exactly as in training, and reports its resident set size (``VmRSS``) before the first sample and when
the buffer is full (the first sample is yielded once it holds ``buffer`` samples). The growth is the buffer's memory
per worker; multiply by ``num_workers`` per rank.

The official TCL/CoDe loaders (``datasets/builder.py``) put ``.shuffle(40000)`` before ``.decode("pil")``: their
buffer holds 40000 raw samples per worker as well; ``--buffer 40000`` measures that size.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def synthetic_jpegs(size: int, n: int = 64, seed: int = 0) -> list:
    """``n`` JPEG byte strings of ``size × round(4/3·size)`` photo-like images (quality 95)."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    h, w = size, round(size * 4 / 3)
    out = []
    for _ in range(n):
        field = rng.integers(0, 256, (max(h // 24, 2), max(w // 24, 2), 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(field).resize((w, h), Image.BICUBIC), dtype=np.float32)
        img += rng.normal(0, 6, img.shape)
        buf = io.BytesIO()
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(buf, format='JPEG', quality=95)
        out.append(buf.getvalue())
    return out


def write_shards(out_dir: str, size: int, count: int) -> tuple[str, float]:
    """Shards of ``count`` samples; returns the brace pattern and the mean raw bytes per sample."""
    from mmseg_code.datasets.webdataset_io import img2dataset_key, img2dataset_writer
    jpegs = synthetic_jpegs(size)
    total = 0
    with img2dataset_writer(out_dir, maxcount=5000) as w:
        for i in range(count):
            jpg = jpegs[i % len(jpegs)]
            cap = f'a photo of a red car parked next to a tree on a sunny street, number {i}'
            meta = dict(caption=cap, width=round(size * 4 / 3), height=size, status='success')
            w.write({'__key__': img2dataset_key(w), 'jpg': jpg, 'txt': cap, 'json': meta})
            total += len(jpg) + len(cap) + len(json.dumps(meta))
    n_shards = len(w.written)
    return osp.join(out_dir, '{00000..%05d}.tar' % (n_shards - 1)), total / count


def rss_kib() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise RuntimeError('no VmRSS in /proc/self/status')


def measure(urls: str, buffer: int) -> dict:
    """Run in a fresh process: RSS before iterating and when the buffer is full."""
    import gc

    from mmseg_code.datasets.image_text_dataset import ImageTextDataset
    ds = ImageTextDataset(sources=dict(urls=urls), pipeline=[], shuffle_buffer=buffer, repeat=False, rank=0,
                          world_size=1)
    it = iter(ds)
    gc.collect()
    before = rss_kib()
    next(it)                                   # yielded once the buffer holds `buffer` raw samples
    full = rss_kib()
    return dict(buffer=buffer, rss_before_mib=before / 1024, rss_full_mib=full / 1024,
                growth_mib=(full - before) / 1024)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--sizes', type=int, nargs='+', default=[224, 512])
    p.add_argument('--buffer', type=int, nargs='+', default=[10000])
    p.add_argument('--workdir', default=None, help='where to write the shards (default: a temporary folder)')
    p.add_argument('--_measure', nargs=2, metavar=('URLS', 'BUFFER'), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._measure:
        print(json.dumps(measure(args._measure[0], int(args._measure[1]))))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for size in args.sizes:
            urls, per_sample = write_shards(osp.join(tmp, str(size)), size, max(args.buffer) + 100)
            for buffer in args.buffer:
                env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
                out = subprocess.run([sys.executable, osp.abspath(__file__), '--_measure', urls, str(buffer)],
                                     env=env, capture_output=True, text=True, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                r.update(size=size, raw_kib_per_sample=per_sample / 1024,
                         raw_mib_in_buffer=per_sample * buffer / 2 ** 20,
                         decoded_mib_in_buffer=size * round(size * 4 / 3) * 3 * buffer / 2 ** 20)
                rows.append(r)
    print('| shards | buffer | raw KiB/sample | raw bytes in buffer (MiB) | worker RSS growth (MiB) | '
          'decoded RGB instead (MiB) |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['size']} px | {r['buffer']} | {r['raw_kib_per_sample']:.1f} | {r['raw_mib_in_buffer']:.0f} | "
              f"{r['growth_mib']:.0f} | {r['decoded_mib_in_buffer']:.0f} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
