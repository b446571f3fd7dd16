"""Vocabularies for open-vocabulary inference (TCL Sec. 4.1 protocol): parsing, validation, prompt template sets.

A vocabulary is a list of classes, each with one or more synonyms. :func:`parse_vocabulary` is the one parser of
every front door (``model.vocabulary`` in a config, ``OVSegInferencer(vocabulary=...)``, ``set_vocabulary``,
``tools/demo.py --vocab``); it reads

* a list: each item is a class name (kept verbatim, as mmseg's dataset class names) or a list of synonyms;
* a path (``os.PathLike``, a string naming an existing file, or any string ending in ``.txt``): a text file with one
  class per line, synonyms separated by commas, blank lines skipped (a missing ``.txt`` file is an error);
* a string with newlines: one class per line, synonyms separated by commas (as in a file);
* a string with ``;``: classes separated by ``;``, synonyms by ``,`` (``"cat, kitten; dog; grass"``);
* any other string: classes separated by ``,`` (``"cat, dog, grass"``).

Names parsed from text are stripped of surrounding spaces; empty items (``"cat, dog,"``) are skipped. Two names that
CLIP's tokenizer cannot tell apart (it lowercases and collapses whitespace, ``"Cat"`` = ``"cat"``) would get identical
embeddings, so that neither could ever win: :class:`Vocabulary` rejects names equal up to case and whitespace, and the
segmentor rejects names whose token ids are equal (:func:`check_distinct_tokens`).

The text classifier (``text_classifier.py``) embeds the S synonyms; a class scores the best of its synonyms:

    score_k(x) = max_{s ∈ syn(k)} score(x, ê_s)         (:func:`reduce_synonyms`)

``background``: a class named ``background`` is never prompted; when the vocabulary has a background the
segmentor adds a constant ``bg_thresh`` score plane as output channel 0 (TCL's rule).

Template sets: ``custom`` (TCL's 9), ``simple`` ("a photo of a {}."), ``imagenet80`` (CLIP's 80 ImageNet
templates, ``open_clip.zero_shot_metadata.OPENAI_IMAGENET_TEMPLATES``; also the targets of CoDe's KgCoOp loss),
``none`` (the bare name).
"""
from __future__ import annotations

import os
from collections import abc
from typing import Optional, Sequence, Union

import torch
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

from ..utils.options import OptionError


class VocabularyError(OptionError):
    """A vocabulary (or template set) the user gave cannot be used; the message is one line (a ``ValueError``)."""


TEMPLATES: dict[str, list[str]] = {
    'none': ['{}'],
    'simple': ['a photo of a {}.'],
    'custom': [
        'itap of a {}.', 'a bad photo of a {}.', 'a origami {}.', 'a photo of the large {}.',
        'a {} in a video game.', 'art of the {}.', 'a photo of the small {}.', 'a photo of many {}.',
        'a photo of {}s.'
    ],
    # CLIP's 80 ImageNet prompts, as open_clip ships them (callables) turned into ``{}`` patterns
    'imagenet80': [t('{}') for t in OPENAI_IMAGENET_TEMPLATES],
}

ClassSpec = Union[str, Sequence[Union[str, Sequence[str]]]]


def get_templates(templates: Union[str, Sequence[str]]) -> list[str]:
    """A named template set or an explicit list of ``{}`` templates."""
    if isinstance(templates, str):
        if templates not in TEMPLATES:
            raise VocabularyError(f'Unknown template set {templates!r}; known: {sorted(TEMPLATES)}.')
        return list(TEMPLATES[templates])
    templates = list(templates)
    if not templates or any('{}' not in t for t in templates):
        raise VocabularyError('Prompt templates must be a non-empty list of strings containing "{}".')
    return templates


def _split_synonyms(text: str) -> list[str]:
    return [n.strip() for n in text.split(',') if n.strip()]


def parse_vocabulary(classes: ClassSpec) -> list[list[str]]:
    """Classes as lists of synonyms, from any of the forms of the module docstring."""
    if isinstance(classes, os.PathLike) or (isinstance(classes, str) and
                                            (classes.strip().endswith('.txt') or os.path.isfile(classes))):
        path = os.fspath(classes).strip() if isinstance(classes, str) else os.fspath(classes)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'Vocabulary file not found: {path}')
        with open(path, encoding='utf-8') as f:
            out = [syns for syns in map(_split_synonyms, f) if syns]
    elif isinstance(classes, str):
        if '\n' in classes:
            out = [syns for syns in map(_split_synonyms, classes.splitlines()) if syns]
        elif ';' in classes:
            out = [syns for syns in map(_split_synonyms, classes.split(';')) if syns]
        else:
            out = [[n] for n in _split_synonyms(classes)]
    elif isinstance(classes, abc.Sequence):
        out = []
        for item in classes:
            if isinstance(item, str):
                out.append([item])
            elif isinstance(item, abc.Sequence) and all(isinstance(n, str) for n in item):
                out.append(list(item))
            else:
                raise VocabularyError(f'A vocabulary item must be a class name or a list of synonyms, got {item!r}.')
    else:
        raise VocabularyError(f'A vocabulary is a string, a list or a .txt file, got {type(classes).__name__}.')
    if not out:
        raise VocabularyError(f'The vocabulary is empty ({classes!r}): give at least one class name.')
    return out


def normalise_name(name: str) -> str:
    """A name as CLIP's tokenizer compares it: lowercase, whitespace collapsed."""
    return ' '.join(name.lower().split())


def _duplicates(names: Sequence[str], key) -> list[list[str]]:
    groups: dict = {}
    for n in names:
        groups.setdefault(key(n), []).append(n)
    return [g for g in groups.values() if len(g) > 1]


def check_distinct_tokens(tokenizer, names: Sequence[str]) -> None:
    """Raise a one-line error if two names tokenise to the same ids (identical embeddings: one never wins)."""
    encode = getattr(tokenizer, 'encode', None)
    if encode is None:
        return
    dups = _duplicates(names, lambda n: tuple(encode(n)))
    if dups:
        shown = '; '.join(' = '.join(repr(n) for n in g) for g in dups)
        raise VocabularyError(f'Duplicated class names in the vocabulary (the same for the CLIP tokenizer): {shown}.')


class Vocabulary:
    """A validated open vocabulary.

    Args:
        classes: see :func:`parse_vocabulary` (module docstring).
        background: ``'auto'`` (a first class named "background" is the background), True (a background
            output channel 0: the first class is dropped from prompting if it is "background", else it is
            prepended), or False (no background channel).

    Attributes:
        names: foreground classes, each a list of synonyms (what is prompted).
        has_background: whether output channel 0 is the constant background plane.
        class_names: output channel names (``'background'`` first when present).
        synonyms: flat list of the S prompted names; ``synonym_to_class``: their class index (``S``).
    """

    def __init__(self, classes: ClassSpec, background: Union[str, bool] = 'auto') -> None:
        names = parse_vocabulary(classes)
        first_is_bg = names[0][0].strip().lower() == 'background'
        if background == 'auto':
            has_bg = first_is_bg
        elif isinstance(background, bool):
            has_bg = background
        else:
            raise VocabularyError(f"background must be 'auto', True or False, got {background!r}.")
        if has_bg and first_is_bg:
            names = names[1:]
        if not names:
            raise VocabularyError('The vocabulary has no foreground class.')
        for syns in names:
            if not syns or any(not isinstance(s, str) or not s.strip() for s in syns):
                raise VocabularyError(f'Empty class name in the vocabulary: {syns!r}.')
        flat = [s for syns in names for s in syns]
        dups = _duplicates(flat, normalise_name)
        if dups:
            shown = '; '.join(' = '.join(repr(n) for n in g) for g in dups)
            raise VocabularyError(f'Duplicated class names in the vocabulary (equal up to case and spaces): {shown}.')
        if len(names) + int(has_bg) < 2:
            raise VocabularyError('The vocabulary needs at least two output classes (add background=True).')
        self.names = names
        self.has_background = has_bg
        self.class_names = (['background'] if has_bg else []) + [syns[0] for syns in names]
        self.synonyms = flat
        self.synonym_to_class = [k for k, syns in enumerate(names) for _ in syns]

    @property
    def key(self) -> tuple:
        """Hashable identity (cache key)."""
        return (tuple(tuple(s) for s in self.names), self.has_background)

    def __len__(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        return f'Vocabulary({len(self.names)} classes, background={self.has_background})'


def check_tokenizable(tokenizer, names: Sequence[str], templates: Sequence[str], context_length: int) -> None:
    """Raise a one-line error if a name tokenises to nothing or a prompt exceeds the context length."""
    encode = getattr(tokenizer, 'encode', None)
    if encode is None:
        return
    longest = max(templates, key=len)
    for name in names:
        shown = repr(name if len(name) <= 60 else name[:57] + '...')
        if not encode(name):
            raise VocabularyError(f'Class name {shown} tokenises to nothing.')
        n = len(encode(longest.format(name))) + 2
        if n > context_length:
            raise VocabularyError(f'Class name {shown} is too long: its prompt has {n} tokens > context length '
                             f'{context_length}.')


def reduce_synonyms(scores: torch.Tensor, synonym_to_class: Optional[torch.Tensor], num_classes: int) -> torch.Tensor:
    """Max over synonyms: ``B×S×H×W`` → ``B×K×H×W`` (identity when S = K)."""
    if synonym_to_class is None or scores.shape[1] == num_classes:
        return scores
    idx = synonym_to_class.to(scores.device).view(1, -1, 1, 1).expand_as(scores)
    out = scores.new_full((scores.shape[0], num_classes) + tuple(scores.shape[2:]), float('-inf'))
    return out.scatter_reduce(1, idx, scores, reduce='amax', include_self=True)
