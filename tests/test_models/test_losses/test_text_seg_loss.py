"""L^t_seg: weighted CE over J+1 word classes, official labels and paper argmax self-labels."""
import numpy as np
import pytest
import torch

from mmseg.registry import MODELS
from mmseg_code.models.heads.text_segmenter import word_mask_logits
from mmseg_code.models.losses.text_seg_loss import TextSegLoss, argmax_self_labels


def _np_ce(z, y, w):
    """Weighted-mean CE, z B×K×L, y B×L (−1 ignore), w K."""
    num = den = 0.0
    for b in range(z.shape[0]):
        for i in range(z.shape[2]):
            if y[b, i] < 0:
                continue
            col = z[b, :, i]
            lse = np.log(np.sum(np.exp(col - col.max()))) + col.max()
            num += w[y[b, i]] * (lse - col[y[b, i]])
            den += w[y[b, i]]
    return num / den


def test_official_labels_against_numpy():
    rng = np.random.default_rng(0)
    ell = rng.normal(size=(2, 2, 6)).astype(np.float32)
    z = np.concatenate([np.zeros((2, 1, 6), np.float32), ell], axis=1)
    y = np.array([[-1, 1, 1, 0, 2, -1], [-1, 0, 2, -1, -1, -1]])
    ref = _np_ce(z, y, np.array([0.5, 1.0, 1.0]))
    loss = MODELS.build(dict(type='TextSegLoss'))
    got = loss(word_mask_logits(torch.tensor(ell)), torch.tensor(y))
    assert got.item() == pytest.approx(ref, rel=1e-5)


def test_argmax_labels_ties_and_padding():
    # B=1, J=2, L=6 token logits: SOT | w1 w2 w3 w4 | EOT (pos 5)
    ell = torch.tensor([[[9.0, 2.0, 0.0, 1.0, 1.0, 9.0], [9.0, 1.0, 0.0, 3.0, 1.0, 9.0]]])
    ids = torch.tensor([[49406, 10, 11, 12, 13, 49407]])
    eot = torch.tensor([5])
    labels = argmax_self_labels(word_mask_logits(ell), ids, eot)
    # pos1: noun0 (2 > 1 > 0); pos2: tie bg 0 / 0 / 0 → bg; pos3: noun1; pos4: tie nouns 1 = 1 → noun0; SOT/EOT −1
    assert labels.tolist() == [[-1, 1, 0, 2, 1, -1]]
    # padding after EOT is ignored, an invalid noun is never a label
    ell2 = torch.tensor([[[0.0, 5.0, -1.0, 0.0, 0.0], [0.0, 9.0, 3.0, 0.0, 0.0]]])
    ids2 = torch.tensor([[49406, 10, 11, 49407, 0]])
    z2 = word_mask_logits(ell2, torch.tensor([[True, False]]))
    assert argmax_self_labels(z2, ids2, torch.tensor([3])).tolist() == [[-1, 1, 0, -1, -1]]


def test_argmax_loss_against_numpy():
    rng = np.random.default_rng(1)
    ell = rng.normal(size=(2, 3, 8)).astype(np.float32)
    z = np.concatenate([np.zeros((2, 1, 8), np.float32), ell], axis=1)
    eot = np.array([5, 7])
    y = z.argmax(1)
    for b in range(2):
        y[b, 0] = -1
        y[b, eot[b]:] = -1
    ref = _np_ce(z, y, np.array([1.0, 1.0, 1.0, 1.0]))
    ids = torch.zeros(2, 8, dtype=torch.long)
    got = TextSegLoss('argmax', bg_weight=1.0)(word_mask_logits(torch.tensor(ell)), ids=ids, eot_index=torch.tensor(eot))
    assert got.item() == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize('source', ['word_labels', 'argmax'])
def test_padded_noun_equals_dropping_it(source):
    torch.manual_seed(0)
    ell = torch.randn(2, 2, 10)
    y = torch.tensor([[-1, 1, 1, 0, -1, -1, -1, -1, -1, -1], [-1, 0, 1, 1, 0, -1, -1, -1, -1, -1]])
    ids = torch.zeros(2, 10, dtype=torch.long)
    eot = torch.tensor([4, 6])
    loss = TextSegLoss(source)
    valid = torch.tensor([[True, False], [True, False]])
    padded = loss(word_mask_logits(ell, valid), y, ids, eot, valid)
    dropped = loss(word_mask_logits(ell[:, :1]), y, ids, eot, None)
    assert padded.item() == pytest.approx(dropped.item(), abs=1e-6)
    # a label pointing at an invalid noun is ignored, never turned into an infinite CE
    y_bad = y.clone()
    y_bad[0, 4] = 2
    assert torch.isfinite(loss(word_mask_logits(ell, valid), y_bad, ids, eot, valid))
    if source == 'word_labels':
        assert loss(word_mask_logits(ell, valid), y_bad, ids, eot, valid).item() == pytest.approx(padded.item())


def test_all_ignored_is_zero_and_finite():
    ell = torch.randn(1, 2, 4, requires_grad=True)
    out = TextSegLoss()(word_mask_logits(ell), torch.full((1, 4), -1))
    assert out.item() == 0.0
    out.backward()
    assert torch.isfinite(ell.grad).all()
