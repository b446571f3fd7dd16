"""tools/pretrain_clip.py: the batch's texts, their positives and the multi-positive CLIP loss (hand-computed values)."""
import importlib.util
import math
import os.path as osp

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool():
    spec = importlib.util.spec_from_file_location('pretrain_clip_tool', osp.join(ROOT, 'tools', 'pretrain_clip.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pc = _tool()


def test_drop_colours_and_phrases():
    assert pc.drop_colours('an orange circle above a blue square') == 'a circle above a square'
    assert pc.noun_phrases('a red circle above a blue square') == ['a red circle', 'a blue square']
    assert pc.noun_phrases('a red circle, a star and a green square.') == ['a red circle', 'a star', 'a green square']
    assert pc.phrase_words('a Red circle') == frozenset({'red', 'circle'})


def test_positives_by_content_and_source():
    truths = [[pc.phrase_words('a red circle'), pc.phrase_words('a blue square')],   # image 0
              [pc.phrase_words('a green circle')]]                                    # image 1
    contents = [[frozenset({'circle'})],                      # "a photo of a circle.": true of both
                [frozenset({'red', 'circle'})],               # only image 0
                [frozenset({'green', 'square'})],             # neither; written for image 1 (source) -> image 1
                [frozenset({'red', 'circle'}), frozenset({'blue', 'square'})]]   # image 0's caption
    sources = [{0}, {0}, {1}, {0}]
    pos = pc.positives(truths, contents, sources)
    expect = torch.tensor([[1, 1, 0, 1],
                           [1, 0, 1, 0]], dtype=torch.bool)
    assert torch.equal(pos, expect)
    # default sources: text j written for image j (the square case of one text per image)
    # (text 1 "red circle" is then image 1's own text, so positive for it by source)
    assert torch.equal(pc.positives(truths, contents[:2]), torch.tensor([[1, 1], [1, 1]], dtype=torch.bool))


def test_batch_texts_merges_identical_texts():
    rng = np.random.default_rng(0)
    truths = ['a red circle', 'a red circle', 'a blue star above a green square']
    texts, contents, sources = pc.batch_texts(truths, rng, ['{}'], subcaption_prob=0.0, object_prompt_prob=1.0)
    assert len(texts) == len(set(texts))
    i = texts.index('a red circle')
    assert sources[i] == {0, 1}                                  # one column, both images
    assert contents[i] == [frozenset({'red', 'circle'})]
    assert 'a blue star above a green square' in texts
    # every other text is an object phrase (template '{}') of the images that produced it
    for t, c, src in zip(texts, contents, sources):
        if t in truths:
            continue
        assert len(c) == 1 and c[0] == frozenset(t.split())
        for s in src:
            assert any(c[0] <= pc.phrase_words(p) for p in pc.noun_phrases(truths[s]))
    # without extra prompts and without sub-captions: exactly the distinct captions, in order
    texts, _, sources = pc.batch_texts(truths, np.random.default_rng(0), ['{}'], 0.0, 0.0)
    assert texts == ['a red circle', 'a blue star above a green square'] and sources == [{0, 1}, {2}]


def test_clip_loss_multi_positive_rectangular():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    same = torch.tensor([[1, 0, 1], [0, 1, 1]], dtype=torch.bool)
    scale = torch.tensor(math.log(2.0))
    # by hand: cosine logits x2 -> image 0: [2, 0, sqrt2], image 1: [0, 2, sqrt2]
    r = math.sqrt(2.0)
    lse_row = math.log(math.exp(2) + 1 + math.exp(r))
    loss_i = -(0.5 * (2 - lse_row) + 0.5 * (r - lse_row))            # same for both rows by symmetry
    lse_c01 = math.log(math.exp(2) + 1)                              # text 0 and text 1 columns
    lse_c2 = math.log(2 * math.exp(r))
    loss_t = (-(2 - lse_c01) - (2 - lse_c01) - (r - lse_c2)) / 3     # text 2: both images, half each
    got = pc.clip_loss(img, txt, scale, same)
    assert abs(float(got) - (loss_i + loss_t) / 2) < 1e-5
