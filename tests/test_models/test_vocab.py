"""Vocabulary parsing, validation, template ensembling and synonym reduction."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_code.models.clip import OpenCLIP
from mmseg_code.models.vocab import (TEMPLATES, Vocabulary, encode_with_templates, get_templates, load_classes,
                                     reduce_synonyms)


def test_template_sets():
    assert len(TEMPLATES['custom']) == 9 and TEMPLATES['custom'][0] == 'itap of a {}.'
    assert len(TEMPLATES['imagenet80']) == 80 == len(set(TEMPLATES['imagenet80']))
    assert get_templates('simple') == ['a photo of a {}.']
    with pytest.raises(ValueError, match='Unknown template set'):
        get_templates('nope')


def test_file_with_synonyms_and_background(tmp_path):
    f = tmp_path / 'voc.txt'
    f.write_text('background\ncat, kitten\n\ndog\n')
    assert load_classes(str(f)) == [['background'], ['cat', 'kitten'], ['dog']]
    v = Vocabulary(str(f))
    assert v.has_background and v.class_names == ['background', 'cat', 'dog']
    assert v.synonyms == ['cat', 'kitten', 'dog'] and v.synonym_to_class == [0, 0, 1]
    v2 = Vocabulary(['cat', 'dog'], background=True)
    assert v2.class_names == ['background', 'cat', 'dog'] and v2.synonyms == ['cat', 'dog']
    v3 = Vocabulary(['background', 'cat'], background=False)
    assert not v3.has_background and v3.synonyms == ['background', 'cat']
    assert Vocabulary(['bed ', 'wall']).synonyms == ['bed ', 'wall']    # mmseg names kept verbatim


def test_errors():
    with pytest.raises(ValueError, match='empty'):
        Vocabulary([])
    with pytest.raises(ValueError, match='Duplicated'):
        Vocabulary(['cat', 'dog', 'cat'])
    with pytest.raises(ValueError, match='Empty class name'):
        Vocabulary(['cat', '  '])
    with pytest.raises(ValueError, match='at least two'):
        Vocabulary(['cat'])
    with pytest.raises(FileNotFoundError):
        Vocabulary('/nonexistent/vocab.txt')


@pytest.fixture(scope='module')
def clip():
    torch.manual_seed(0)
    return OpenCLIP('mmcode-tiny-vit-p16')


def test_template_ensemble_averages_then_normalises(clip):
    te = clip.text_encoder
    got = encode_with_templates(te, ['cat', 'dog'], ['a {}.', 'the {} here.'])
    with torch.no_grad():
        e = te.encode(te.tokenize(['a cat.', 'the cat here.']))
    torch.testing.assert_close(got[0], F.normalize(e.mean(0), dim=0))
    assert got.shape == (2, 64)


def test_tokenisation_errors(clip):
    with pytest.raises(ValueError, match='tokenises to nothing'):
        encode_with_templates(clip.text_encoder, ['!!!'.replace('!', ' ')], 'simple')
    with pytest.raises(ValueError, match='too long'):
        encode_with_templates(clip.text_encoder, ['word ' * 80], 'simple')


def test_reduce_synonyms_max():
    scores = torch.tensor([0.1, 0.7, 0.3]).view(1, 3, 1, 1)
    out = reduce_synonyms(scores, torch.tensor([0, 0, 1]), 2)
    torch.testing.assert_close(out.view(-1), torch.tensor([0.7, 0.3]))
