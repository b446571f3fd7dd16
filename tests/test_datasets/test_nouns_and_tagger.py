"""Noun selection (official filtering rules, seeding, <J padding), the offline tagger and the missing-NLTK message."""
import numpy as np
import pytest

from mmseg_code.datasets.nlp import tagger as tagger_mod
from mmseg_code.datasets.nlp import NLTKDataMissingError, extract_nouns, get_pos_tagger, tokenize_words
from mmseg_code.datasets.nlp.pos_corpus import HELD_OUT, HELD_OUT_FUNCTION_WORDS
from mmseg_code.datasets.skip import SkipSample
from mmseg_code.datasets.transforms import SelectNouns


def test_extract_nouns_filters_like_official_code():
    tagged = [('dog', 'NN'), ('runs', 'VBZ'), ('dog', 'NN'), ('x', 'NN'), ('Dog', 'NNP'), ('<', 'NN'),
              ('cats', 'NNS'), ('Alps', 'NNPS'), ('red', 'JJ')]
    assert extract_nouns(tagged) == ['dog', 'Dog', 'cats', 'Alps']


def test_tokenizer_needs_no_punkt():
    assert tokenize_words("A dog's toy. Cats sleep.") == ['A', 'dog', "'s", 'toy', '.', 'Cats', 'sleep', '.']


@pytest.mark.parametrize('caption,nouns', [
    ('a man riding a horse on the beach', ['man', 'horse', 'beach']),
    ('two dogs playing with a ball in the park', ['dogs', 'ball', 'park']),
    ('a red circle above a blue square', ['circle', 'square']),
    ('close up of a slice of pizza on a plate', ['slice', 'pizza', 'plate']),
    ('actor attends the premiere in London', ['actor', 'premiere', 'London']),
])
def test_builtin_tagger_finds_caption_nouns(caption, nouns):
    assert extract_nouns(get_pos_tagger('builtin')(caption)) == nouns


def _noun_precision_recall(tagger, sentences):
    """Token-level noun (NN*) precision and recall of ``tagger`` against hand tags, and tag accuracy."""
    tp = fp = fn = correct = total = 0
    for sent in sentences:
        pred = tagger.tag([w for w, _ in sent])
        for (_, gold), (_, tag) in zip(sent, pred):
            total += 1
            correct += gold == tag
            tp += gold.startswith('NN') and tag.startswith('NN')
            fp += tag.startswith('NN') and not gold.startswith('NN')
            fn += gold.startswith('NN') and not tag.startswith('NN')
    return tp / (tp + fp), tp / (tp + fn), correct / total


def test_builtin_tagger_held_out_precision_and_recall():
    """Hand-tagged captions the corpus templates do not produce (out-of-lexicon nouns; function words). Measured at
    the time of writing: all 70 captions noun precision 0.952, recall 0.979 (0.689 / 0.951 before the function-word
    corpus); the 45 function-word captions 0.908 / 0.972 (before: 0.532 / 0.930)."""
    tagger = tagger_mod.build_builtin_tagger()
    precision, recall, accuracy = _noun_precision_recall(tagger, HELD_OUT + HELD_OUT_FUNCTION_WORDS)
    assert precision >= 0.93 and recall >= 0.95 and accuracy >= 0.85
    precision, recall, _ = _noun_precision_recall(tagger, HELD_OUT_FUNCTION_WORDS)
    assert precision >= 0.88 and recall >= 0.95


def test_function_words_are_never_nouns():
    tagged = [('then', 'NN'), ('Then', 'NNS'), ('quickly', 'NNS'), ('US', 'NNP'), ('can', 'NN'), ('dog', 'NN'),
              ('here', 'NN')]
    assert extract_nouns(tagged) == ['US', 'can', 'dog']  # "US" (all caps) and "can" (a noun in "a can of") stay
    assert extract_nouns(tagged, stop_words=()) == ['then', 'Then', 'quickly', 'US', 'can', 'dog', 'here']


def test_adverb_caption_has_no_noun():
    """The caption of the issue: the builtin tagger tagged 'quickly' and 'then' as nouns, so it was trained on."""
    assert extract_nouns(get_pos_tagger('builtin')('very quickly and then slowly')) == []
    assert extract_nouns(get_pos_tagger('builtin')('very quickly and then slowly'), stop_words=()) == []
    with pytest.raises(SkipSample) as err:
        _select(SelectNouns(num_nouns=2, min_nouns=2, tagger='builtin'), 'very quickly and then slowly')
    assert err.value.reason == 'too_few_nouns'


def test_builtin_tagger_is_cached_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv('MMSEG_CODE_CACHE', str(tmp_path))
    a = tagger_mod.build_builtin_tagger(num_sentences=300, nr_iter=2)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == '.json'
    b = tagger_mod.build_builtin_tagger(num_sentences=300, nr_iter=2)  # loaded from the file
    c = tagger_mod.build_builtin_tagger(num_sentences=300, nr_iter=2, use_cache=False)  # retrained
    words = 'a small dog sleeping under an old wooden table'.split()
    assert a.tag(words) == b.tag(words) == c.tag(words)


def test_missing_nltk_data_message(tmp_path, monkeypatch):
    import nltk
    monkeypatch.setattr(nltk.data, 'path', [str(tmp_path)])
    monkeypatch.setattr(tagger_mod, '_CACHE', {})
    with pytest.raises(NLTKDataMissingError) as err:
        SelectNouns(tagger='nltk')
    msg = str(err.value)
    assert 'python -m nltk.downloader averaged_perceptron_tagger_eng punkt_tab' in msg
    assert 'punkt_tab' in msg.split('Install')[0] and 'averaged_perceptron_tagger_eng' in msg.split('Install')[0]
    assert '\n' not in msg


def test_unknown_tagger():
    with pytest.raises(ValueError, match='unknown tagger'):
        SelectNouns(tagger='spacy')


def _select(t, caption, key='k'):
    return t.transform(dict(caption=caption, key=key))


def test_seeded_selection_is_reproducible():
    caption = 'a man with a dog and a cat near a car on a street under a tree'
    nouns = ['man', 'dog', 'cat', 'car', 'street', 'tree']
    a = SelectNouns(num_nouns=2, tagger='builtin', seed=1)
    b = SelectNouns(num_nouns=2, tagger='builtin', seed=1)
    picks = [_select(a, caption, key=f'k{i}')['nouns'] for i in range(20)]
    assert picks == [_select(b, caption, key=f'k{i}')['nouns'] for i in range(20)]
    assert all(len(set(p)) == 2 and set(p) <= set(nouns) for p in picks)
    assert len({tuple(p) for p in picks}) > 3  # the draw depends on the key
    other = SelectNouns(num_nouns=2, tagger='builtin', seed=2)
    assert picks != [_select(other, caption, key=f'k{i}')['nouns'] for i in range(20)]
    r = _select(a, caption)
    assert r['caption_nouns'] == nouns and r['noun_valid'] == [True, True]


def test_global_rng_selection_follows_numpy_seed():
    t = SelectNouns(num_nouns=3, tagger='builtin')
    caption = 'a man with a dog and a cat near a car on a street under a tree'
    np.random.seed(5)
    first = [_select(t, caption)['nouns'] for _ in range(5)]
    np.random.seed(5)
    assert first == [_select(t, caption)['nouns'] for _ in range(5)]


def test_fewer_nouns_than_j_padded_and_masked():
    t = SelectNouns(num_nouns=2, min_nouns=1, tagger='builtin', seed=0)
    r = _select(t, 'a dog')
    assert r['nouns'] == ['dog', ''] and r['noun_valid'] == [True, False]
    none = SelectNouns(num_nouns=2, min_nouns=0, tagger='builtin')
    r = _select(none, 'with the')
    assert r['nouns'] == ['', ''] and r['noun_valid'] == [False, False]


def test_too_few_nouns_skipped():
    t = SelectNouns(num_nouns=2, min_nouns=2, tagger='builtin')
    with pytest.raises(SkipSample) as err:
        _select(t, 'a dog')
    assert err.value.reason == 'too_few_nouns'


def test_bad_arguments():
    with pytest.raises(ValueError, match='min_nouns'):
        SelectNouns(num_nouns=2, min_nouns=3, tagger='builtin')
