"""Statistics of image-caption shards: samples, members, corrupt/truncated members, caption and noun statistics."""
from collections import Counter
from typing import Any, Dict, List, Optional

import numpy as np

from .skip import SkipCounter
from .webdataset_io import raw_from_fields, read_shards


def _summary(values: List[float]) -> Dict[str, float]:
    if not values:
        return {}
    a = np.asarray(values, dtype=np.float64)
    return dict(mean=round(float(a.mean()), 2), p50=float(np.percentile(a, 50)), p95=float(np.percentile(a, 95)),
                max=float(a.max()))


def shard_statistics(paths: List[str], tagger: Optional[str] = None, decode: bool = False,
                     max_samples: Optional[int] = None, context_length: int = 77,
                     progress: bool = True) -> Dict[str, Any]:
    """Read ``paths`` once and return a JSON-serialisable report.

    Args:
        tagger: 'nltk' / 'builtin' to also count nouns per caption (None: skip the tagging, which is the slow part).
        decode: also decode every image (finds undecodable and tiny images; slower).
        max_samples: stop after this many samples.
    """
    from tqdm import tqdm

    from .skip import SkipSample
    from .transforms.caption import clean_caption
    from .transforms.decode import DecodeImageBytes
    from .transforms.tokenize import clip_tokenizer
    skips = SkipCounter()
    per_shard: Dict[str, int] = {}
    exts: Counter = Counter()
    cap_chars: List[float] = []
    cap_tokens: List[float] = []
    noun_counts: Counter = Counter()
    sizes: List[float] = []
    tag = None
    if tagger:
        from .nlp import extract_nouns, get_pos_tagger
        tag = get_pos_tagger(tagger)
    decoder = DecodeImageBytes() if decode else None
    tok = clip_tokenizer()
    n = 0

    def on_skip(reason: str, detail: str = '') -> None:
        skips.add(reason)

    bar = tqdm(total=len(paths), desc='shards', unit='shard', disable=not progress)
    for fields in read_shards(paths, on_skip):  # the training reader's webdataset stages, one pass in order
        url = fields['__url__']
        if url not in per_shard:
            per_shard[url] = 0
            bar.update(1)
        exts.update(k for k in fields if not k.startswith('__'))
        raw = raw_from_fields(fields, url, on_skip)
        if raw is None:
            continue
        per_shard[url] += 1
        caption = clean_caption(raw['caption'])
        if not caption:
            skips.add('empty_caption')
        cap_chars.append(len(caption))
        cap_tokens.append(len(tok.encode(caption[:4000])))
        if tag is not None and caption:
            noun_counts[min(len(extract_nouns(tag(caption[:2000]))), 5)] += 1
        if decoder is not None:
            try:
                img = decoder.transform(dict(img_bytes=raw['img_bytes'], key=raw['key']))['img']
                sizes.append(min(img.shape[:2]))
            except SkipSample as e:
                skips.add(e.reason)
        n += 1
        if max_samples and n >= max_samples:
            break
    else:
        for path in paths:  # shards without a single sample
            per_shard.setdefault(path, 0)
    bar.close()
    report: Dict[str, Any] = dict(
        shards=len(per_shard), samples=n, samples_per_shard=_summary(list(per_shard.values())),
        members_by_extension=dict(exts.most_common()), problems=skips.as_dict(),
        caption_chars=_summary(cap_chars), caption_bpe_tokens=_summary(cap_tokens),
        captions_truncated_at_context=int(sum(t > context_length - 2 for t in cap_tokens)))
    if tag is not None:
        report['nouns_per_caption'] = {('5+' if k == 5 else str(k)): v for k, v in sorted(noun_counts.items())}
    if decoder is not None:
        report['image_short_side'] = _summary(sizes)
    return report
