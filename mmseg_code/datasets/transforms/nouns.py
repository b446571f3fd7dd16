"""Noun selection (CoDe Sec. 3.5 / official ``noun_parser``): tag the caption, keep distinct nouns, draw J of them."""
import zlib
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ..nlp import NOUN_TAGS, extract_nouns, get_pos_tagger
from ..skip import TOO_FEW_NOUNS, SkipSample


@TRANSFORMS.register_module()
class SelectNouns(BaseTransform):
    """Select ``num_nouns`` (J) nouns of ``results['caption']``.

    Steps (official code): word-tokenize and POS-tag, keep tags ``noun_tags``, deduplicate (exact string, first
    occurrence order), drop single letters and '<', '>', shuffle, take the first J.

    Outputs: ``nouns`` list[str] of length J ('' for empty slots), ``noun_valid`` list[bool] of length J,
    ``caption_nouns`` list[str] of all distinct nouns (the ones not selected get word label 0 later).

    Args:
        num_nouns: J.
        min_nouns: captions with fewer distinct nouns raise ``SkipSample('too_few_nouns')`` (official code: 2 = J);
            with ``min_nouns <= n < J`` the remaining slots are padded with '' and marked invalid.
        tagger: 'nltk' (standard NLTK data; a missing download stops here with the command to run) or 'builtin'
            (offline perceptron tagger trained on a generated caption corpus; approximate).
        seed: ``None`` draws with numpy's global RNG (seeded per dataloader worker by MMEngine, so runs repeat under
            ``randomness.seed`` and the draw changes each time a caption is seen, as in the official code); an int
            makes the draw a fixed function of (seed, key, caption).
    """

    def __init__(self, num_nouns: int = 2, min_nouns: int = 1, tagger: str = 'nltk',
                 noun_tags: Sequence[str] = NOUN_TAGS, seed: Optional[int] = None) -> None:
        if num_nouns < 1 or not 0 <= min_nouns <= num_nouns:
            raise ValueError(f'SelectNouns: need num_nouns >= 1 and 0 <= min_nouns <= num_nouns, '
                             f'got num_nouns={num_nouns}, min_nouns={min_nouns}')
        self.num_nouns = int(num_nouns)
        self.min_nouns = int(min_nouns)
        self.tagger = tagger
        self.noun_tags = tuple(noun_tags)
        self.seed = seed
        get_pos_tagger(tagger)  # fail fast in the main process (missing NLTK data, unknown tagger)

    def _permutation(self, n: int, results: Dict) -> np.ndarray:
        if self.seed is None:
            return np.random.permutation(n)
        text = f'{results.get("key", "")}\0{results["caption"]}'.encode('utf-8', 'surrogatepass')
        return np.random.default_rng([int(self.seed), zlib.crc32(text)]).permutation(n)

    def transform(self, results: Dict) -> Dict:
        caption_nouns = extract_nouns(get_pos_tagger(self.tagger)(results['caption']), self.noun_tags)
        if len(caption_nouns) < self.min_nouns:
            raise SkipSample(TOO_FEW_NOUNS, f'{results.get("key")}: {len(caption_nouns)} < {self.min_nouns}')
        order = self._permutation(len(caption_nouns), results)
        chosen: List[str] = [caption_nouns[i] for i in order[:self.num_nouns]]
        pad = self.num_nouns - len(chosen)
        results['nouns'] = chosen + [''] * pad
        results['noun_valid'] = [True] * len(chosen) + [False] * pad
        results['caption_nouns'] = caption_nouns
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_nouns={self.num_nouns}, min_nouns={self.min_nouns}, '
                f'tagger={self.tagger!r}, noun_tags={self.noun_tags}, seed={self.seed})')
