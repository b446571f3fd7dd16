"""The texts of one contrastive batch and which of them are true of which image (multi-positive targets).

A caption of the synthetic shapes data names objects ("a red circle above a blue square"). For each image the batch
holds its caption or one of its object phrases in a prompt template ("a photo of a circle."), and optionally one more
such object prompt. Identical texts are merged into one column of the logits, true of all the images that produced
it; and a text is also true of any other image whose caption contains each of its object phrases. With B images and
T distinct texts this gives the positives matrix ``P`` (``B×T`` bool) of :class:`MultiPositiveClipLoss`:

    P[i, j] = i ∈ sources(j)  or  ∀ c ∈ content(j): ∃ t ∈ truth(i): c ⊆ t

where ``content(j)`` are the word sets of text j's object phrases (articles dropped) and ``truth(i)`` those of image
i's caption. Without it, "a photo of a circle." written for one image would be a false negative of every other circle
image, punishing exactly the shape evidence. Randomness comes from a ``torch.Generator`` (exact resume saves it).
"""
from __future__ import annotations

import re
from typing import Dict, FrozenSet, List, Sequence, Set, Tuple

import torch

PLAIN_TEMPLATES = ['{}', 'a {}.', 'a photo of a {}.', 'an image of a {}.', 'a picture of the {}.', 'the {}.']
RELATION_SPLIT = re.compile(r',\s*and\s+|,\s*|\s+and\s+|\s+above\s+|\s+below\s+|\s+beside\s+')
ARTICLES = ('a', 'an', 'the')

Content = List[FrozenSet[str]]


def _random(gen: torch.Generator) -> float:
    return float(torch.rand((), generator=gen))


def _integer(n: int, gen: torch.Generator) -> int:
    return int(torch.randint(n, (), generator=gen))


def noun_phrases(caption: str) -> List[str]:
    """The object phrases of a shapes caption: 'a red circle above a blue square' -> ['a red circle', 'a blue
    square'] (split at commas, 'and' and the relations)."""
    return [p.strip(' .') for p in RELATION_SPLIT.split(caption.strip(' .')) if p.strip(' .')]


def drop_colours(caption: str, colours: Sequence[str]) -> str:
    """The caption without its colour words ('an orange circle above a blue square' -> 'a circle above a
    square'), articles fixed."""
    colours = {c.lower() for c in colours}
    words = [w for w in caption.split() if w.strip(',.').lower() not in colours]
    return re.sub(r'\ban ([^aeiou])', r'a \1', ' '.join(words))


def phrase_words(phrase: str) -> FrozenSet[str]:
    """Content words of a phrase, lower case, articles dropped."""
    return frozenset(w for w in phrase.lower().split() if w not in ARTICLES)


def subcaption(caption: str, gen: torch.Generator, templates: Sequence[str]) -> Tuple[str, FrozenSet[str]]:
    """One object phrase of the caption, without its article and, half of the time, without its adjectives, in a
    random template; and its content words."""
    phrases = noun_phrases(caption)
    words = phrases[_integer(len(phrases), gen)].split()
    if words and words[0].lower() in ARTICLES:
        words = words[1:]
    if len(words) > 1 and _random(gen) < 0.5:
        words = words[-1:]
    text = templates[_integer(len(templates), gen)].format(' '.join(words))
    return text, frozenset(w.lower() for w in words)


def batch_texts(truths: Sequence[str], gen: torch.Generator, templates: Sequence[str], subcaption_prob: float,
                object_prompt_prob: float) -> Tuple[List[str], List[Content], List[Set[int]]]:
    """Distinct texts of a batch, their contents and their source images.

    Per image i (caption ``truths[i]``): its caption, or with ``subcaption_prob`` one object phrase in a template;
    then with ``object_prompt_prob`` one more object prompt. A text already present gains i as a source instead of
    a second column."""
    index: Dict[str, int] = {}
    texts: List[str] = []
    contents: List[Content] = []
    sources: List[Set[int]] = []

    def add(text: str, content: Content, i: int) -> None:
        if text in index:
            sources[index[text]].add(i)
            return
        index[text] = len(texts)
        texts.append(text)
        contents.append(content)
        sources.append({i})

    for i, caption in enumerate(truths):
        if _random(gen) < subcaption_prob:
            text, content = subcaption(caption, gen, templates)
            add(text, [content], i)
        else:
            add(caption, [phrase_words(p) for p in noun_phrases(caption)], i)
        if object_prompt_prob > 0 and _random(gen) < object_prompt_prob:
            text, content = subcaption(caption, gen, templates)
            add(text, [content], i)
    return texts, contents, sources


def positives(truths: Sequence[Content], contents: Sequence[Content],
              sources: Sequence[Set[int]] = None) -> torch.Tensor:
    """``P`` (images × texts, bool) of the module doc; ``sources`` default: text j was written for image j."""
    if sources is None:
        sources = [{j} for j in range(len(contents))]
    pos = torch.zeros(len(truths), len(contents), dtype=torch.bool)
    for i, truth in enumerate(truths):
        for j, content in enumerate(contents):
            pos[i, j] = i in sources[j] or all(any(c <= t for t in truth) for c in content)
    return pos
