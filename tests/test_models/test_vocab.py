"""Vocabulary parsing, validation, template ensembling and synonym reduction."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_code.models.clip import OpenCLIP
from mmseg_code.models.text_classifier import encode_with_templates
from mmseg_code.models.vocab import TEMPLATES, Vocabulary, get_templates, parse_vocabulary, reduce_synonyms


def test_template_sets():
    assert len(TEMPLATES['custom']) == 9 and TEMPLATES['custom'][0] == 'itap of a {}.'
    assert len(TEMPLATES['imagenet80']) == 80 == len(set(TEMPLATES['imagenet80']))
    # CLIP's list (open_clip's), in its order: first, 40th and last as in CLIP's notebook
    assert [TEMPLATES['imagenet80'][i] for i in (0, 39, 79)] == ['a bad photo of a {}.', 'a photo of a {}.',
                                                                  'a tattoo of the {}.']
    assert get_templates('simple') == ['a photo of a {}.']
    with pytest.raises(ValueError, match='Unknown template set'):
        get_templates('nope')


def test_file_with_synonyms_and_background(tmp_path):
    f = tmp_path / 'voc.txt'
    f.write_text('background\ncat, kitten\n\ndog\n')
    assert parse_vocabulary(str(f)) == [['background'], ['cat', 'kitten'], ['dog']]
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
    with pytest.raises(FileNotFoundError, match='Vocabulary file not found: /nonexistent/vocab.txt'):
        Vocabulary('/nonexistent/vocab.txt')
    with pytest.raises(ValueError, match='must be a class name or a list of synonyms, got 3'):
        Vocabulary(['cat', 3])
    with pytest.raises(ValueError, match='is empty'):
        Vocabulary(' , ')


def test_one_parser_for_every_form(tmp_path):
    """Strings, lists and files, as the module docstring lists them (expected values written by hand)."""
    assert parse_vocabulary('cat, dog ,grass') == [['cat'], ['dog'], ['grass']]
    assert parse_vocabulary('cat, dog, grass,') == [['cat'], ['dog'], ['grass']]
    assert parse_vocabulary('cat, kitten; dog; grass') == [['cat', 'kitten'], ['dog'], ['grass']]
    assert parse_vocabulary('cat\ndog\ngrass') == [['cat'], ['dog'], ['grass']]
    assert parse_vocabulary('cat, kitten\n\ndog\n') == [['cat', 'kitten'], ['dog']]
    assert parse_vocabulary(['cat', ['dog', 'puppy'], 'bed ']) == [['cat'], ['dog', 'puppy'], ['bed ']]
    f = tmp_path / 'names'                                   # an existing file, whatever its extension
    f.write_text('sky\ntree, bush\n')
    assert parse_vocabulary(str(f)) == parse_vocabulary(f) == [['sky'], ['tree', 'bush']]
    with pytest.raises(FileNotFoundError, match='Vocabulary file not found'):
        parse_vocabulary(str(tmp_path / 'missing.txt'))


def test_config_string_vocabulary_is_parsed_not_a_path():
    """``model = dict(vocabulary='cat, dog, grass')`` in a config: three classes (was "Vocabulary file not found")."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmseg_code  # noqa: F401
    init_default_scope('mmseg')
    model = MODELS.build(dict(type='TCL', clip=dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16'),
                              decode_head=dict(type='ImageSegmenter'), vocabulary='cat, dog, grass',
                              test_cfg=dict(mode='whole', pamr=False, kp_weight=0.0)))
    assert model.vocabulary.class_names == ['cat', 'dog', 'grass']
    assert model.set_vocabulary('sky\ntree, bush').names == [['sky'], ['tree', 'bush']]


def test_duplicates_after_normalisation(clip):
    """"Cat, cat" would be two classes with one embedding (one never wins): rejected, by the vocabulary (case and
    spaces) and by the segmentor (the tokenizer's ids)."""
    for vocab in ('Cat, cat', 'traffic light; Traffic  light', ['dog', ['cat', 'CAT']]):
        with pytest.raises(ValueError, match='Duplicated class names'):
            Vocabulary(vocab)
    # full-width letters and HTML entities: the tokenizer (ftfy + html.unescape + lower) conflates what the
    # vocabulary's own check does not
    tok = clip.text_encoder.tokenizer
    assert tok.encode('\uff23\uff21\uff34') == tok.encode('cat') and tok.encode('a&amp;b') == tok.encode('a&b')
    Vocabulary(['\uff23\uff21\uff34', 'cat'])                  # distinct strings for the vocabulary alone
    from mmseg_code.models.vocab import check_distinct_tokens
    with pytest.raises(ValueError, match=r"the same for the CLIP tokenizer\): 'a&amp;b' = 'a&b'"):
        check_distinct_tokens(tok, ['a&amp;b', 'dog', 'a&b'])


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


def test_segmentor_rejects_names_the_tokenizer_conflates():
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmseg_code  # noqa: F401
    init_default_scope('mmseg')
    cfg = dict(type='TCL', clip=dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16'),
               decode_head=dict(type='ImageSegmenter'), test_cfg=dict(mode='whole', pamr=False, kp_weight=0.0))
    with pytest.raises(ValueError, match='the same for the CLIP tokenizer'):
        MODELS.build(dict(cfg, vocabulary=['\uff23\uff21\uff34', 'cat']))
    model = MODELS.build(cfg)
    with pytest.raises(ValueError, match='the same for the CLIP tokenizer'):
        model.set_vocabulary('dog; \uff23\uff21\uff34; cat')
