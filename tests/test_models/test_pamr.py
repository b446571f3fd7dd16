"""PAMR on hand-made images and masks, against a direct loop implementation."""
import numpy as np
import torch

from mmseg_code.models.pamr import PAMR

OFFS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _loop_pamr(img, mask, dilations, num_iter):
    """Straightforward per-pixel PAMR on numpy arrays img (3×H×W), mask (K×H×W)."""
    _, h, w = img.shape
    at = lambda a, y, x: a[:, min(max(y, 0), h - 1), min(max(x, 0), w - 1)]  # replicate padding
    aff = np.zeros((h, w, 8 * len(dilations)))
    for y in range(h):
        for x in range(w):
            vals = [at(img, y + dy * d, x + dx * d) for d in dilations for dy, dx in [(0, 0)] + OFFS]
            std = np.std(np.stack(vals), axis=0, ddof=1)                            # per channel
            a = [(-np.abs(img[:, y, x] - at(img, y + dy * d, x + dx * d)) / (1e-8 + 0.1 * std)).mean()
                 for d in dilations for dy, dx in OFFS]
            a = np.exp(np.array(a) - max(a))
            aff[y, x] = a / a.sum()
    for _ in range(num_iter):
        new = np.zeros_like(mask)
        for y in range(h):
            for x in range(w):
                nb = [at(mask, y + dy * d, x + dx * d) for d in dilations for dy, dx in OFFS]
                new[:, y, x] = (np.stack(nb, axis=1) * aff[y, x]).sum(1)
        mask = new
    return mask


def test_matches_loop_implementation():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(3, 6, 7)).astype(np.float32)
    mask = rng.random(size=(2, 6, 7)).astype(np.float32)
    got = PAMR(num_iter=3, dilations=[1, 2])(torch.tensor(img)[None], torch.tensor(mask)[None])[0].numpy()
    np.testing.assert_allclose(got, _loop_pamr(img, mask, [1, 2], 3), rtol=1e-4, atol=1e-5)


def test_uniform_image_averages_neighbours():
    mask = torch.zeros(1, 1, 5, 5)
    mask[0, 0, 2, 2] = 1.0
    out = PAMR(num_iter=1, dilations=[1])(torch.zeros(1, 3, 5, 5), mask)
    # every 8-neighbour of the centre gets 1/8, the centre itself 0, total mass 1
    want = torch.zeros(5, 5)
    want[1:4, 1:4] = 1 / 8
    want[2, 2] = 0
    torch.testing.assert_close(out[0, 0], want)


def test_step_edge_is_preserved_and_range_kept():
    img = torch.zeros(1, 3, 16, 16)
    img[..., 8:] = 1.0
    mask = torch.zeros(1, 2, 16, 16)
    mask[0, 0, :, :8] = 1.0
    mask[0, 1] = torch.rand(16, 16)
    out = PAMR()(img, mask)                                     # 10 iterations, dilations up to 24
    assert out[0, 0, :, :8].min() > 0.99 and out[0, 0, :, 8:].max() < 0.01
    assert out.min() >= 0 and out.max() <= 1 + 1e-6


def test_mask_is_resized_to_the_image():
    out = PAMR(num_iter=1)(torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 4, 4))
    assert out.shape == (1, 3, 8, 8)
    torch.testing.assert_close(out, torch.ones(1, 3, 8, 8))


def test_propagate_equals_stacked_neighbour_sum():
    """The in-place accumulation over shifted planes (one replicate pad) equals the stacked formulation."""
    import torch.nn.functional as F
    torch.manual_seed(0)
    pamr = PAMR(dilations=(1, 2, 5))
    img, masks = torch.randn(2, 3, 9, 11), torch.rand(2, 4, 9, 11)
    aff = pamr.affinity(img)
    planes = []
    for d in pamr.dilations:                              # per-dilation replicate padding, stacked
        xp = F.pad(masks, [d, d, d, d], mode='replicate')
        planes += [xp[..., d + dy * d:d + dy * d + 9, d + dx * d:d + dx * d + 11] for dy, dx in OFFS]
    ref = (torch.stack(planes, dim=2) * aff).sum(dim=2)
    torch.testing.assert_close(pamr.propagate(masks, aff), ref)
