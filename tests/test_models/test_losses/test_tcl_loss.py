"""TCL's L^v_seg terms on hand-made tensors."""
import pytest
import torch

from mmseg_code.models.losses.infonce import InfoNCE
from mmseg_code.models.losses.tcl_loss import TCLLoss, masked_pool, total_variation


def test_total_variation_by_hand():
    x = torch.tensor([[1.0, 2.0, 4.0], [1.0, 0.0, 4.0]]).view(1, 1, 2, 3)
    # vertical |Δ|: 0, 2, 0 → mean 2/3; horizontal: 1, 2, 1, 4 → mean 2
    assert total_variation(x).item() == pytest.approx(2 / 3 + 2)


def test_masked_pool_by_hand():
    feats = torch.tensor([[1.0, 3.0], [5.0, 7.0]]).view(1, 1, 2, 2)           # T=1, D=1
    masks = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]]).view(1, 2, 2, 2)
    pooled = masked_pool(masks, feats)
    assert pooled.shape == (1, 2, 1)
    assert pooled[0, 0, 0].item() == pytest.approx(8.0 / (2 + 1e-6))
    assert pooled[0, 1, 0].item() == 0.0


def test_area_priors_and_weights():
    # T=2 local texts, N=2: soft masks with known means
    soft = torch.zeros(2, 2, 2, 2)
    soft[0, 0] = 0.5          # pos of sample 0: mean 0.5
    soft[1, 1] = 0.2          # pos of sample 1: mean 0.2   → mean positive 0.35
    soft[0, 1] = 0.1          # negatives: 0.1 and 0.3 → mean 0.2
    soft[1, 0] = 0.3
    loss = TCLLoss(tcl_img_weight=0, tcl_feat_weight=0, tv_img_weight=0, tv_mask_weight=0)
    out = loss(None, torch.randn(2, 4), torch.randn(2, 4, 2, 2), soft)
    assert out['loss_area'].item() == pytest.approx(0.4 * abs(0.35 - 0.4))
    assert out['loss_neg_area'].item() == pytest.approx(0.4 * 0.2)
    assert out['loss_tv_img'].item() == 0 and out['loss_tv_mask'].item() == 0   # weights 0
    code = TCLLoss(area_prior=0.25, area_weight=0.5, neg_area_weight=0.05, normalize_feats=True)
    out = code(None, torch.randn(2, 4), torch.randn(2, 4, 2, 2), soft)
    assert out['loss_area'].item() == pytest.approx(0.5 * 0.1)
    assert out['loss_neg_area'].item() == pytest.approx(0.05 * 0.2)
    assert set(out) == {'loss_tcl_feat', 'loss_area', 'loss_neg_area', 'loss_tv_img', 'loss_tv_mask'}


def test_tv_terms_normalised_or_not():
    feats = torch.zeros(1, 2, 2, 2)                     # two identical rows: no vertical variation
    feats[0, :, :, 0] = torch.tensor([0.0, 1.0])[:, None]
    feats[0, :, :, 1] = torch.tensor([3.0, 4.0])[:, None]
    soft = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    raw = TCLLoss(tcl_img_weight=0, tcl_feat_weight=0)(None, torch.randn(1, 2), feats, soft)
    # unnormalised: |3-0| and |4-1| → mean 3; masks: |1-0| → 1
    assert raw['loss_tv_img'].item() == pytest.approx(3.0)
    assert raw['loss_tv_mask'].item() == pytest.approx(1.0)
    normed = TCLLoss(tcl_img_weight=0, tcl_feat_weight=0, normalize_feats=True)(None, torch.randn(1, 2), feats, soft)
    # normalised: (0,1) and (0.6,0.8) → |0.6| and |0.2| → mean 0.4
    assert normed['loss_tv_img'].item() == pytest.approx(0.4, rel=1e-5)


def test_contrastive_terms_equal_their_infonce():
    torch.manual_seed(0)
    t, d = 3, 4
    e_v, txt = torch.randn(t, d), torch.randn(t, d)
    feats, soft = torch.randn(t, d, 4, 4), torch.rand(t, t, 4, 4)
    loss = TCLLoss()
    out = loss(e_v, txt, feats, soft)
    assert out['loss_tcl_img'].item() == pytest.approx(0.1 * InfoNCE()(e_v, txt).item(), rel=1e-6)
    pooled = torch.stack([torch.stack([(soft[i, n] * feats[i]).sum((1, 2)) / (soft[i, n].sum() + 1e-6)
                                       for n in range(t)]) for i in range(t)])
    assert out['loss_tcl_feat'].item() == pytest.approx(0.1 * InfoNCE(extended=True)(pooled, txt).item(), rel=1e-5)
    assert loss.infonce_img.logit_scale is not loss.infonce_feat.logit_scale


def test_valid_mask_equals_dropping_the_invalid_sample():
    torch.manual_seed(1)
    t, d = 3, 4
    e_v, txt = torch.randn(t, d), torch.randn(t, d)
    feats, soft = torch.randn(t, d, 4, 4), torch.rand(t, t, 4, 4)
    valid = torch.tensor([True, False, True])
    keep = torch.tensor([0, 2])
    loss = TCLLoss()
    got = loss(e_v, txt, feats, soft, valid=valid)
    ref = loss(e_v[keep], txt[keep], feats[keep], soft[keep][:, keep])
    for k in ref:
        assert got[k].item() == pytest.approx(ref[k].item(), rel=1e-5), k


@pytest.mark.parametrize('with_valid', [False, True])
def test_per_image_rows_equal_per_text_rows(with_valid):
    """``image_index``: per-image feats/masks (B rows) give exactly the terms of the T-level tensors
    ``feats[image_index]`` / ``soft[image_index]`` (CoDe: J nouns share one image); gradients too."""
    torch.manual_seed(2)
    b, j, d = 3, 2, 5
    t = b * j
    image_index = torch.arange(b).repeat(j)
    e_v, txt = torch.randn(t, d), torch.randn(t, d)
    feats = torch.randn(b, d, 4, 6, requires_grad=True)
    soft = torch.rand(b, t, 4, 6, requires_grad=True)
    valid = torch.tensor([True, True, False, True, False, True]) if with_valid else None
    for normalize in (False, True):
        loss = TCLLoss(normalize_feats=normalize)
        got = loss(e_v, txt, feats, soft, valid=valid, image_index=image_index)
        ref = loss(e_v, txt, feats[image_index], soft[image_index], valid=valid)
        assert set(got) == set(ref)
        for k in ref:
            torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-7, msg=k)
        g_got = torch.autograd.grad(sum(got.values()), [feats, soft])
        g_ref = torch.autograd.grad(sum(ref.values()), [feats, soft])
        for a, r in zip(g_got, g_ref):
            torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-7)
        if normalize:   # a caller-provided normalisation is used as is
            nf = torch.nn.functional.normalize(feats, dim=1, eps=1e-6)
            shared = loss(e_v, txt, feats, soft, valid=valid, image_index=image_index, normalized_feats=nf)
            for k in ref:
                torch.testing.assert_close(shared[k], got[k], msg=k)
