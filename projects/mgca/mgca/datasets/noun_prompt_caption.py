"""Caption augmentation of MGCA (Sec. 4.1 "Training", GroupViT-style noun prompts).

    candidates = [caption] + [template(noun) for noun in caption_nouns]      template drawn from ``templates``
    caption    ← a uniformly drawn candidate

Placed after ``SelectNouns`` (which provides ``caption_nouns``, all distinct nouns of the caption) and before
``TokenizeCaptionWithNouns``. The original caption is kept as ``original_caption``.
"""
from __future__ import annotations

import zlib
from typing import Dict, Optional, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from mmseg_code.models.vocab import get_templates


@TRANSFORMS.register_module()
class MGCANounPromptCaption(BaseTransform):
    """Replace ``caption`` by the original or a prompt built from one of its nouns, uniformly at random.

    Args:
        templates: template set name (plugin ``vocab.TEMPLATES``) or list; default CLIP's 80 ImageNet prompts.
        seed: ``None`` → numpy's global RNG (seeded per worker by MMEngine); an int → a fixed function of
            (seed, key, caption).
    """

    def __init__(self, templates: Union[str, Sequence[str]] = 'imagenet80', seed: Optional[int] = None) -> None:
        self.templates = get_templates(templates)
        self.seed = seed

    def candidates(self, results: Dict) -> list:
        nouns = [n for n in results.get('caption_nouns', []) if n]
        return [results['caption']] + nouns

    def transform(self, results: Dict) -> Dict:
        cands = self.candidates(results)
        if self.seed is None:
            rng = np.random
        else:
            text = f'{results.get("key", "")}\0{results["caption"]}'.encode('utf-8', 'surrogatepass')
            rng = np.random.default_rng([int(self.seed), zlib.crc32(text)])
        pick = int(rng.randint(len(cands)) if rng is np.random else rng.integers(len(cands)))
        results['original_caption'] = results['caption']
        if pick > 0:
            tpl = self.templates[int(rng.randint(len(self.templates)) if rng is np.random
                                     else rng.integers(len(self.templates)))]
            results['caption'] = tpl.format(cands[pick])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(templates={len(self.templates)}, seed={self.seed})'
