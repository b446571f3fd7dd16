"""Caption cleaning: fix mojibake (ftfy), unescape HTML entities, collapse whitespace; cut what CLIP would not read."""
import html
import re
from typing import Dict, Optional, Tuple

import ftfy
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ..skip import CAPTION_TRUNCATED, EMPTY_CAPTION, SkipSample, record_change

_WS = re.compile(r'\s+')


def clean_caption(text: str) -> str:
    """``ftfy.fix_text`` + double ``html.unescape`` (as CLIP's ``basic_clean``) + whitespace collapsed and stripped.

    Case is kept: the noun tagger uses it (proper nouns); the CLIP tokenizer lower-cases on its own.
    """
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text))
    return _WS.sub(' ', text).strip()


def cut_at_space(text: str, max_chars: int) -> str:
    """The first ``max_chars`` characters of ``text``, ending before the last space in them (a hard cut when there
    is none)."""
    head = text[:max_chars]
    space = head.rfind(' ')
    return head[:space] if space > 0 else head


def fit_context(caption: str, max_tokens: int) -> Tuple[str, bool]:
    """The longest word prefix of a cleaned caption whose CLIP BPE ids number at most ``max_tokens``, and whether it
    is shorter than the caption.

    CLIP's tokenizer splits on whitespace before BPE, so the ids of a word prefix are a prefix of the caption's ids:
    the kept words are exactly the whole words ``open_clip.tokenize`` keeps at ``context_length = max_tokens + 2``.
    A first word longer than the budget is kept whole (the tokenizer cuts inside it)."""
    if caption.isascii() and len(caption) <= max_tokens:  # every BPE token covers >= 1 non-space byte
        return caption, False
    from .tokenize import encode_word
    words = caption.split(' ')
    used = 0
    for i, word in enumerate(words):
        used += len(encode_word(word))
        if used > max_tokens:
            return ' '.join(words[:max(i, 1)]), True
    return caption, False


@TRANSFORMS.register_module()
class CleanCaption(BaseTransform):
    """Clean ``results['caption']`` in place (see :func:`clean_caption`), keeping the original as ``raw_caption``,
    and cut it to what the text encoder reads.

    * A raw caption longer than ``max_chars`` characters (scraped junk; bounds the cost of ftfy and the tagger) is
      cut at the last space before that length.
    * With ``context_length`` (CLIP's 77), the cleaned caption keeps only the whole words whose CLIP BPE ids fit
      between SOT and EOT (:func:`fit_context`), so later steps -- noun selection in particular -- see exactly the
      words CLIP reads; nouns are chosen from the kept part. ``None`` keeps the whole cleaned caption.

    A cut caption is kept and counted as ``caption_truncated`` (a change, not a skip; see
    :func:`..skip.record_change`). Raises ``SkipSample('empty_caption')`` when nothing is left.
    """

    def __init__(self, max_chars: int = 2000, context_length: Optional[int] = 77) -> None:
        if max_chars < 1 or (context_length is not None and context_length < 3):
            raise ValueError(f'CleanCaption: need max_chars >= 1 and context_length >= 3 (or None), got '
                             f'max_chars={max_chars}, context_length={context_length}')
        self.max_chars = int(max_chars)
        self.context_length = None if context_length is None else int(context_length)

    def transform(self, results: Dict) -> Dict:
        raw = results.get('caption')
        if not isinstance(raw, str):
            raise SkipSample(EMPTY_CAPTION, f'{results.get("key")}: caption is {type(raw).__name__}')
        truncated = len(raw) > self.max_chars
        caption = clean_caption(cut_at_space(raw, self.max_chars) if truncated else raw)
        if not caption:
            raise SkipSample(EMPTY_CAPTION, str(results.get('key')))
        if self.context_length is not None:
            caption, cut = fit_context(caption, self.context_length - 2)
            truncated = truncated or cut
        if truncated:
            record_change(results, CAPTION_TRUNCATED)
        results['raw_caption'] = raw
        results['caption'] = caption
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(max_chars={self.max_chars}, context_length={self.context_length})'
