"""Caption cleaning: fix mojibake (ftfy), unescape HTML entities, collapse whitespace."""
import html
import re
from typing import Dict

import ftfy
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ..skip import CAPTION_TOO_LONG, EMPTY_CAPTION, SkipSample

_WS = re.compile(r'\s+')


def clean_caption(text: str) -> str:
    """``ftfy.fix_text`` + double ``html.unescape`` (as CLIP's ``basic_clean``) + whitespace collapsed and stripped.

    Case is kept: the noun tagger uses it (proper nouns); the CLIP tokenizer lower-cases on its own.
    """
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text))
    return _WS.sub(' ', text).strip()


@TRANSFORMS.register_module()
class CleanCaption(BaseTransform):
    """Clean ``results['caption']`` in place (see :func:`clean_caption`), keeping the original as ``raw_caption``.

    Raises ``SkipSample('empty_caption')`` when nothing is left and ``SkipSample('caption_too_long')`` when the raw
    caption has more than ``max_chars`` characters (scraped junk; also bounds the tagger's cost).
    """

    def __init__(self, max_chars: int = 2000) -> None:
        self.max_chars = int(max_chars)

    def transform(self, results: Dict) -> Dict:
        raw = results.get('caption')
        if not isinstance(raw, str):
            raise SkipSample(EMPTY_CAPTION, f'{results.get("key")}: caption is {type(raw).__name__}')
        if len(raw) > self.max_chars:
            raise SkipSample(CAPTION_TOO_LONG, f'{results.get("key")}: {len(raw)} chars')
        caption = clean_caption(raw)
        if not caption:
            raise SkipSample(EMPTY_CAPTION, str(results.get('key')))
        results['raw_caption'] = raw
        results['caption'] = caption
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(max_chars={self.max_chars})'
