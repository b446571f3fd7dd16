"""CLIP BPE tokenisation of the caption with the token positions of each selected noun and the word labels of the
text segmenter (official code: BPE sub-sequence matching of each noun's own ids in the caption ids)."""
from functools import lru_cache
from typing import Dict, List, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

_TOKENIZER = None


def clip_tokenizer():
    """open_clip's ``SimpleTokenizer`` (the real CLIP BPE), created once per process."""
    global _TOKENIZER
    if _TOKENIZER is None:
        from open_clip.tokenizer import SimpleTokenizer
        _TOKENIZER = SimpleTokenizer()
    return _TOKENIZER


@lru_cache(maxsize=65536)
def encode_word(word: str) -> Tuple[int, ...]:
    """BPE ids of one noun (cached: nouns repeat across captions)."""
    return tuple(clip_tokenizer().encode(word))


def encode_caption(caption: str, context_length: int) -> np.ndarray:
    """int64[L]: SOT, caption BPE ids, EOT, zero padding; too long captions keep their first L-2 ids and the EOT
    (identical to ``open_clip.tokenize``)."""
    tok = clip_tokenizer()
    body = tok.encode(caption)[:context_length - 2]
    ids = np.zeros(context_length, dtype=np.int64)
    ids[:len(body) + 2] = [tok.sot_token_id] + body + [tok.eot_token_id]
    return ids


def find_subsequence(ids: Sequence[int], pattern: Sequence[int], start: int, stop: int) -> List[int]:
    """Positions p in [start, stop) that belong to an occurrence of ``pattern`` fully inside [start, stop)."""
    k = len(pattern)
    hits: List[int] = []
    if k == 0:
        return hits
    pattern = list(pattern)
    for p in range(start, stop - k + 1):
        if list(ids[p:p + k]) == pattern:
            hits.extend(range(p, p + k))
    return hits


@TRANSFORMS.register_module()
class TokenizeCaptionWithNouns(BaseTransform):
    """Tokenise ``caption`` with CLIP's BPE and locate the selected nouns in it.

    Outputs (L = ``context_length``, J = ``len(results['nouns'])``):

    * ``text_ids`` int64[L] -- as ``open_clip.tokenize(caption, L)``;
    * ``noun_token_mask`` bool[J, L] -- True at every position of every occurrence of noun j's own BPE ids
      (``encode(noun)``) between SOT and EOT; all False for empty slots and for nouns cut off by truncation;
    * ``word_labels`` int64[L] -- -1 everywhere (SOT, EOT, padding, non-nouns), 0 on the tokens of caption nouns that
      were not selected (``caption_nouns``), j+1 on the tokens of selected noun j (a later j wins where matches
      overlap);
    * ``eot_index`` int -- position of the EOT token.
    """

    def __init__(self, context_length: int = 77) -> None:
        if context_length < 2:
            raise ValueError(f'TokenizeCaptionWithNouns: context_length must be >= 2, got {context_length}')
        self.context_length = int(context_length)

    def transform(self, results: Dict) -> Dict:
        tok = clip_tokenizer()
        ids = encode_caption(results['caption'], self.context_length)
        eot = int(np.nonzero(ids == tok.eot_token_id)[0][-1])
        nouns: List[str] = list(results.get('nouns', []))
        L = self.context_length
        mask = np.zeros((len(nouns), L), dtype=bool)
        labels = np.full(L, -1, dtype=np.int64)
        ids_list = ids.tolist()
        for noun in results.get('caption_nouns', []):
            if noun not in nouns:
                labels[find_subsequence(ids_list, encode_word(noun), 1, eot)] = 0
        for j, noun in enumerate(nouns):
            if not noun:
                continue
            pos = find_subsequence(ids_list, encode_word(noun), 1, eot)
            mask[j, pos] = True
            labels[pos] = j + 1
        results['text_ids'] = ids
        results['noun_token_mask'] = mask
        results['word_labels'] = labels
        results['eot_index'] = eot
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(context_length={self.context_length})'
