"""Noun token spans and word labels on hand-made captions (positions counted by hand; ids checked against
``open_clip.tokenize``)."""
import numpy as np
import open_clip

from mmseg_code.datasets.transforms import TokenizeCaptionWithNouns

SOT, EOT = 49406, 49407


def run(caption, nouns, caption_nouns, L=77):
    return TokenizeCaptionWithNouns(context_length=L).transform(
        dict(caption=caption, nouns=nouns, caption_nouns=caption_nouns))


def labels_with(L, assignments):
    out = np.full(L, -1)
    for pos, v in assignments.items():
        out[pos] = v
    return out


def test_ids_equal_open_clip_tokenize():
    for caption in ['a dog and a cat on a sofa', 'A Hippopotamus, in the river!', 'x ' * 100]:
        r = run(caption, [], [])
        assert r['text_ids'].tolist() == open_clip.tokenize([caption])[0].tolist()


def test_single_token_nouns_and_unselected_noun():
    # SOT a dog and a cat on a sofa EOT
    #  0  1  2   3  4  5   6 7  8    9
    r = run('a dog and a cat on a sofa', ['cat', 'dog'], ['dog', 'cat', 'sofa'])
    assert r['text_ids'][0] == SOT and r['text_ids'][9] == EOT and r['eot_index'] == 9
    assert r['noun_token_mask'].shape == (2, 77)
    assert np.flatnonzero(r['noun_token_mask'][0]).tolist() == [5]
    assert np.flatnonzero(r['noun_token_mask'][1]).tolist() == [2]
    np.testing.assert_array_equal(r['word_labels'], labels_with(77, {5: 1, 2: 2, 8: 0}))


def test_multi_token_noun():
    # 'hippopotamus' is three BPE tokens: hippo potam us</w>
    # SOT a hippo potam us in a river EOT
    #  0  1   2     3    4  5 6   7    8
    r = run('a hippopotamus in a river', ['hippopotamus', 'river'], ['hippopotamus', 'river'])
    assert np.flatnonzero(r['noun_token_mask'][0]).tolist() == [2, 3, 4]
    assert np.flatnonzero(r['noun_token_mask'][1]).tolist() == [7]
    np.testing.assert_array_equal(r['word_labels'], labels_with(77, {2: 1, 3: 1, 4: 1, 7: 2}))


def test_repeated_noun_all_occurrences():
    # SOT a dog chasing a dog EOT
    r = run('a dog chasing a dog', ['dog', ''], ['dog'])
    assert np.flatnonzero(r['noun_token_mask'][0]).tolist() == [2, 5]
    assert not r['noun_token_mask'][1].any()  # empty slot
    np.testing.assert_array_equal(r['word_labels'], labels_with(77, {2: 1, 5: 1}))


def test_whole_word_only():
    # 'catwalk' is one token 'catwalk</w>', which is not the noun 'cat</w>'
    r = run('a catwalk show', ['cat'], ['cat'])
    assert not r['noun_token_mask'].any()
    assert (r['word_labels'] == -1).all()


def test_truncation_keeps_eot_and_drops_cut_nouns():
    # L=8: SOT a big dog chasing a small EOT ('cat near the house' is cut)
    caption = 'a big dog chasing a small cat near the house'
    r = run(caption, ['cat', 'dog'], ['dog', 'cat', 'house'], L=8)
    assert r['text_ids'].tolist() == open_clip.tokenize([caption], context_length=8)[0].tolist()
    assert r['text_ids'][7] == EOT and r['eot_index'] == 7
    assert not r['noun_token_mask'][0].any()
    assert np.flatnonzero(r['noun_token_mask'][1]).tolist() == [3]
    np.testing.assert_array_equal(r['word_labels'], labels_with(8, {3: 2}))


def test_special_and_padding_positions_ignored():
    r = run('dog', ['dog'], ['dog'])
    # SOT dog EOT pad...
    assert r['word_labels'].tolist() == [-1, 1] + [-1] * 75
    assert r['text_ids'][3:].sum() == 0


def test_clean_caption_cuts_to_what_clip_reads():
    from mmseg_code.datasets.transforms import CleanCaption
    tok = open_clip.tokenizer.SimpleTokenizer()
    # 'hippopotamus' is 3 BPE tokens: 10 of them are 30 tokens; L=32 holds 30 between SOT and EOT, L=31 only 9 words
    caption = ' '.join(['hippopotamus'] * 10)
    r = CleanCaption(context_length=32).transform(dict(caption=caption))
    assert r['caption'] == caption and 'changes' not in r
    r = CleanCaption(context_length=31).transform(dict(caption=caption))
    assert r['caption'] == ' '.join(['hippopotamus'] * 9) and r['changes'] == ['caption_truncated']
    assert len(tok.encode(r['caption'])) == 27
    # max_chars: cut at the last space before the limit, then cleaned
    r = CleanCaption(max_chars=13, context_length=None).transform(dict(caption='a  dog &amp; a cat'))
    assert r['caption'] == 'a dog &' and r['raw_caption'] == 'a  dog &amp; a cat'
    assert r['changes'] == ['caption_truncated']
    # a first word longer than the context is kept whole (the tokenizer cuts inside it), and counted
    r = CleanCaption(context_length=5).transform(dict(caption='hippopotamus hippopotamus'))
    assert r['caption'] == 'hippopotamus' and r['changes'] == ['caption_truncated']
