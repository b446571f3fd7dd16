"""KgCoOp noun prompts (n_j) and knowledge-guided targets (n'_j) of CoDe Eq. 1."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_code.models.clip import OpenCLIP
from mmseg_code.models.prompts.noun_prompt import KgCoOpNounPrompt
from mmseg.registry import MODELS


@pytest.fixture(scope='module')
def clip():
    torch.manual_seed(0)
    return OpenCLIP('mmcode-tiny-vit-p16')


def test_registered_and_ctx_init(clip):
    te = clip.text_encoder
    p = MODELS.build(dict(type='KgCoOpNounPrompt'), default_args=dict(text_encoder=te))
    assert isinstance(p, KgCoOpNounPrompt)
    assert p.ctx.shape == (16, te.width) and p.ctx.requires_grad
    # positions 1..16 of "a photo of x x …" are the words a, photo, of and 13 × x
    words = ['a', 'photo', 'of'] + ['x'] * 13
    ids = torch.tensor([te.tokenizer.encode(w)[0] for w in words])
    torch.testing.assert_close(p.ctx.detach(), te.token_embedding.weight[ids])
    # the prompt holds no CLIP weight of its own
    assert [n for n, _ in p.named_parameters()] == ['ctx']


def test_prompt_at_init_equals_plain_clip_sentence(clip):
    """At init ctx = embeddings of "a photo of x×13", so n_j = CLIP("a photo of x … x N_j") through the standard path."""
    te = clip.text_encoder
    p = KgCoOpNounPrompt(te)
    nouns = ['dog', 'hot dog stand']
    n = p(nouns)
    ref = F.normalize(te.encode(te.tokenize(['a photo of' + ' x' * 13 + ' ' + w for w in nouns])), dim=-1)
    torch.testing.assert_close(n, ref, atol=1e-5, rtol=1e-5)
    assert n.shape == (2, te.embed_dim)


def test_prompt_layout_and_truncation(clip):
    te = clip.text_encoder
    p = KgCoOpNounPrompt(te)
    ids = p.prompt_ids(['dog', 'word ' * 100])
    assert ids.shape == (2, 77)
    assert ids[0, 0] == te.sot_token_id
    assert ids[0, 17:19].tolist() == te.tokenizer.encode('dog') + [te.eot_token_id]
    assert (ids[0, 19:] == 0).all()
    assert ids[1, 76] == te.eot_token_id and (ids[1, 17:76] != te.eot_token_id).all()  # 59 noun tokens kept


def test_targets_match_direct_tokenisation_all_templates(clip):
    te = clip.text_encoder
    p = KgCoOpNounPrompt(te, kg_templates='imagenet80')
    assert len(p.templates) == 80
    nouns = ['dog', 'hot dog stand', 't-shirt', "children's", 'u.s.', 'mr.', '3d printer', '.dog', '']
    for ti, t in enumerate(p.templates):
        got = p.target_ids(nouns, torch.full((len(nouns), ), ti))
        assert torch.equal(got, te.tokenize([t.format(n) for n in nouns])), t


def test_targets_paper_form_and_seeded_templates(clip):
    te = clip.text_encoder
    paper = KgCoOpNounPrompt(te, kg_templates='photo')
    got = paper.knowledge_targets(['dog', 'car'])
    ref = F.normalize(te.encode(te.tokenize(['a photo of a dog.', 'a photo of a car.'])), dim=-1)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    assert not got.requires_grad
    a, b, c = (KgCoOpNounPrompt(te, seed=s) for s in (3, 3, 4))
    sa = [a.sample_templates(64) for _ in range(2)]
    sb = [b.sample_templates(64) for _ in range(2)]
    assert all(torch.equal(x, y) for x, y in zip(sa, sb))
    assert not torch.equal(sa[0], sa[1])
    assert not torch.equal(sa[0], c.sample_templates(64))
    # forward_with_targets: the targets use the module's generator, one draw per noun
    idx = KgCoOpNounPrompt(te, seed=5).sample_templates(2)
    n, t = KgCoOpNounPrompt(te, seed=5).forward_with_targets(['dog', 'car'])
    ref = F.normalize(te.encode(te.tokenize([a.templates[i].format(w) for i, w in zip(idx.tolist(), ['dog', 'car'])])),
                      dim=-1)
    torch.testing.assert_close(t, ref, atol=1e-5, rtol=1e-5)


def test_noun_bpe_cache(clip, monkeypatch):
    te = clip.text_encoder
    p = KgCoOpNounPrompt(te, cache_size=2)
    calls = []
    orig = p._bpe
    monkeypatch.setattr(p, '_bpe', lambda s: calls.append(s) or orig(s))
    p.prompt_ids(['dog', 'dog', 'cat'])
    p.prompt_ids(['dog', 'cat'])
    assert calls == ['dog', 'cat']
    p.prompt_ids(['bird'])  # evicts the least recently used ('dog')
    p.prompt_ids(['dog'])
    assert calls == ['dog', 'cat', 'bird', 'dog']


def test_gradient_reaches_ctx_only(clip):
    te = clip.text_encoder
    p = KgCoOpNounPrompt(te)
    n, t = p.forward_with_targets(['dog', 'car'])
    (n * torch.randn_like(n)).sum().backward()
    assert p.ctx.grad is not None and p.ctx.grad.abs().sum() > 0
    assert all(q.grad is None for q in clip.parameters())
