"""Skipping bad samples without stopping training, and counting every skip by reason.

A transform that meets bad data raises :class:`SkipSample` with a short reason string; the streaming dataset catches it,
counts it in a :class:`SkipCounter` and moves on to the next sample. The counts travel with the samples that *are*
yielded (see ``ImageTextDataset``), so a hook in the main process can aggregate them over dataloader workers and ranks.

A transform that *keeps* a sample but changes it in a way worth counting (a caption cut to the text encoder's context)
calls :func:`record_change`; the dataset counts those separately (``change_counts``), and the hook logs both.
"""
from collections import Counter
from typing import Dict, Mapping, MutableMapping

# Reasons used by this package (a stable vocabulary; other strings are allowed for new kinds of bad data).
CORRUPT_TAR_HEADER = 'corrupt_tar_header'  # a tar header with a bad checksum; the reader resynchronised after it
TRUNCATED_TAR = 'truncated_tar'  # a shard that ends in the middle of a member
UNREADABLE_SHARD = 'unreadable_shard'  # a shard that cannot be opened at all
DUPLICATE_MEMBER = 'duplicate_member'  # the same key.ext twice in one sample
MISSING_IMAGE = 'missing_image'  # a sample without .jpg/.jpeg/.png/.webp member
MISSING_CAPTION = 'missing_caption'  # a sample without .txt (and without json 'caption')
UNDECODABLE_IMAGE = 'undecodable_image'  # image bytes that PIL cannot decode
IMAGE_TOO_SMALL = 'image_too_small'  # e.g. 1x1 placeholder images
EMPTY_CAPTION = 'empty_caption'  # caption empty after cleaning
TOO_FEW_NOUNS = 'too_few_nouns'  # fewer distinct nouns than ``min_nouns``

# Changes (the sample is used):
CAPTION_TRUNCATED = 'caption_truncated'  # caption cut to max_chars and/or to the words CLIP's context holds

CHANGES_KEY = 'changes'  # results[CHANGES_KEY]: list of change reasons of the current sample


def record_change(results: MutableMapping, reason: str) -> None:
    """Note in a transform's ``results`` that the sample was kept with a change ``reason`` (counted by the dataset)."""
    results.setdefault(CHANGES_KEY, []).append(reason)


class SkipSample(Exception):
    """Raised by a transform or reader to drop the current sample; ``reason`` is the counter key."""

    def __init__(self, reason: str, detail: str = '') -> None:
        super().__init__(f'{reason}: {detail}' if detail else reason)
        self.reason = reason
        self.detail = detail


class SkipCounter(Counter):
    """A ``Counter`` of skip reasons with helpers to merge counts coming from several workers or ranks."""

    def add(self, reason: str, n: int = 1) -> None:
        self[reason] += n

    def as_dict(self) -> Dict[str, int]:
        return {k: int(v) for k, v in sorted(self.items()) if v}

    @staticmethod
    def merge(*counts: Mapping[str, int]) -> Dict[str, int]:
        """Sum several ``{reason: count}`` mappings into one sorted plain dict."""
        total: Counter = Counter()
        for c in counts:
            total.update({k: int(v) for k, v in c.items()})
        return {k: v for k, v in sorted(total.items()) if v}
