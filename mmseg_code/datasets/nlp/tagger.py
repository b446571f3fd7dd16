"""Word tokenisation and part-of-speech tagging for noun selection, with or without NLTK data.

* ``'nltk'``: ``nltk.word_tokenize`` + ``nltk.pos_tag`` as the official CoDe code. Needs the NLTK data packages
  ``punkt_tab`` and ``averaged_perceptron_tagger_eng``; when they are missing :func:`get_pos_tagger` raises
  :class:`NLTKDataMissingError` naming the download command.
* ``'builtin'``: an NLTK ``PerceptronTagger`` trained on the generated caption corpus of :mod:`.pos_corpus` (a few
  seconds, once; cached as JSON under ``$MMSEG_CODE_CACHE`` or ``~/.cache/mmseg_code``) and NLTK's Treebank-style word
  tokenizer after a regex sentence split (no punkt data). It is an approximation for tests and offline demos, not the
  Penn Treebank-trained tagger. Measured on the hand-tagged held-out captions of :mod:`.pos_corpus` (25 + 45
  captions, 142 nouns): noun precision 0.952, recall 0.979 (before the function-word corpus: 0.689 / 0.951; on the
  45 function-word captions alone 0.908 / 0.972, before 0.532 / 0.930).

:func:`extract_nouns` also drops :data:`FUNCTION_WORDS` whatever their tag.
"""
import json
import os
import os.path as osp
import random
import re
import tempfile
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

NOUN_TAGS = ('NN', 'NNS', 'NNP', 'NNPS')
NLTK_DOWNLOAD_CMD = 'python -m nltk.downloader averaged_perceptron_tagger_eng punkt_tab'
_NLTK_RESOURCES = ('tokenizers/punkt_tab/english/', 'taggers/averaged_perceptron_tagger_eng/')
_SENTENCE_END = re.compile(r'(?<=[.!?])\s+')

TagFn = Callable[[str], List[Tuple[str, str]]]

# Closed-class words that are never nouns (pronouns, determiners, prepositions, conjunctions, auxiliaries, wh-words,
# clitics) and common adverbs, lower case. A tagger error on one of them ("then"/NN) must not make it a selected noun.
# Words that are nouns in some captions stay out: "can", "will", "may", "today", "home", "back", "left", "inside".
FUNCTION_WORDS = frozenset((
    'i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his himself she her hers '
    'herself it its itself they them their theirs themselves '
    'a an the this that these those some any every each all both either neither no another such '
    'of in on at by for with from to into onto over under above below behind beside besides between among through '
    'across along around near about against during without within upon toward towards via per than '
    'and or but nor because while although though if unless since until whether '
    'is are was were be been being am has have had do does did would could should might shall '
    "what which who whom whose where when why how not n't 's 're 'll 've 'm 'd "
    'then now here there very too also just still already again always never often sometimes soon quite rather '
    'almost even only really so yet ever forever once later together alone away '
    'quickly slowly quietly gently carefully happily suddenly softly loudly easily finally usually actually recently '
    'nearly simply oh wow hey').split())

_CACHE: Dict[str, TagFn] = {}


class NLTKDataMissingError(RuntimeError):
    """NLTK's tokenizer/tagger data is not installed."""


def _check_nltk_data() -> None:
    import nltk
    missing = []
    for res in _NLTK_RESOURCES:
        try:
            nltk.data.find(res)
        except LookupError:
            missing.append(res.split('/')[1])
    if missing:
        raise NLTKDataMissingError(
            f'NLTK data {", ".join(missing)} is not installed (needed for noun selection with tagger="nltk"). '
            f'Install it with:  {NLTK_DOWNLOAD_CMD}   (or set tagger="builtin" for the offline approximate tagger)')


def _cache_dir() -> str:
    return os.environ.get('MMSEG_CODE_CACHE', osp.join(osp.expanduser('~'), '.cache', 'mmseg_code'))


def tokenize_words(text: str) -> List[str]:
    """Treebank-style word tokens (NLTK's ``NLTKWordTokenizer``) after a regex sentence split; needs no NLTK data."""
    from nltk.tokenize import NLTKWordTokenizer
    tok = NLTKWordTokenizer()
    return [w for sent in _SENTENCE_END.split(text) if sent for w in tok.tokenize(sent)]


def build_builtin_tagger(num_sentences: int = 9000, nr_iter: int = 5, use_cache: bool = True):
    """Train (or load from the JSON cache) the offline ``PerceptronTagger`` on the generated caption corpus."""
    from nltk.tag.perceptron import PerceptronTagger

    from .pos_corpus import corpus_signature, generate_corpus
    name = f'pos_tagger_builtin_{corpus_signature()}_{num_sentences}_{nr_iter}.json'
    path = osp.join(_cache_dir(), name)
    if use_cache and osp.isfile(path):
        try:
            with open(path, encoding='utf-8') as f:
                weights, tagdict, classes = json.load(f)
            tagger = PerceptronTagger(load=False)
            tagger.model.weights, tagger.tagdict = weights, tagdict
            tagger.classes = set(classes)
            tagger.model.classes = tagger.classes
            return tagger
        except (OSError, ValueError):
            pass  # unreadable cache: retrain below and overwrite it
    tagger = PerceptronTagger(load=False)
    state = random.getstate()  # PerceptronTagger.train shuffles with the global RNG; keep training deterministic
    random.seed(0)
    try:
        tagger.train(generate_corpus(num_sentences), nr_iter=nr_iter)
    finally:
        random.setstate(state)
    if use_cache:
        try:
            os.makedirs(osp.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), suffix='.tmp')
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                json.dump([tagger.model.weights, tagger.tagdict, sorted(tagger.classes)], f)
            os.replace(tmp, path)
        except OSError:
            pass  # read-only home: the tagger still works, it is just retrained next time
    return tagger


def get_pos_tagger(kind: str = 'nltk') -> TagFn:
    """Return ``tag(text) -> [(word, tag), ...]`` for ``kind`` in {'nltk', 'builtin'} (cached per process).

    Raises :class:`NLTKDataMissingError` for ``'nltk'`` when its data is not installed.
    """
    if kind in _CACHE:
        return _CACHE[kind]
    if kind == 'nltk':
        _check_nltk_data()
        import nltk

        def tag(text: str) -> List[Tuple[str, str]]:
            return nltk.pos_tag(nltk.word_tokenize(text))
    elif kind == 'builtin':
        tagger = build_builtin_tagger()

        def tag(text: str) -> List[Tuple[str, str]]:
            return tagger.tag(tokenize_words(text))
    else:
        raise ValueError(f"unknown tagger {kind!r}; use 'nltk' (NLTK data) or 'builtin' (offline)")
    _CACHE[kind] = tag
    return tag


def extract_nouns(tagged: Sequence[Tuple[str, str]], noun_tags: Sequence[str] = NOUN_TAGS,
                  stop_words: Optional[Iterable[str]] = FUNCTION_WORDS) -> List[str]:
    """Distinct nouns in order of first occurrence, as the official code filters them: tags in ``noun_tags``,
    exact-string deduplication (case-sensitive), single letters and '<', '>' removed; and words of ``stop_words``
    (lower case; matched case-insensitively unless the word is all upper case, so "Then" goes and "US" stays)
    removed. ``stop_words=()`` gives the official filter exactly."""
    stop = frozenset(stop_words or ())
    out: List[str] = []
    for word, tag in tagged:
        if tag not in noun_tags or word in out:
            continue
        if len(word) == 1 and (word.isalpha() or word in '<>'):
            continue
        if stop and word.lower() in stop and not word.isupper():
            continue
        out.append(word)
    return out
