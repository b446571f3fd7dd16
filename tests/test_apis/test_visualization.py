"""The overlay renderer: legends scaled to the image, listing the classes present in their colours; overlapping
masks (TSEG's expressions) in distinct colours, outlined."""
import numpy as np
import pytest

from mmseg_code.apis.visualization import auto_palette, draw_masks, draw_overlay

PALETTE = [[10, 20, 30], [200, 0, 0], [0, 200, 0], [0, 0, 200]]
CLASSES = ['background', 'cat', 'dog', 'grass']


def blend(grey, colour, alpha=0.5):
    """The expected overlay pixel, computed by hand: (1 − α)·image + α·colour, rounded."""
    return np.round((1 - alpha) * np.asarray(grey, float) + alpha * np.asarray(colour, float)).astype(np.uint8)


def legend_of(drawn, image_width):
    """The legend panel: what lies right of the overlay and its separator (white columns)."""
    rest = drawn[:, image_width:]
    start = np.argmax((rest != 255).any(axis=(0, 2)))       # first column with a non-white pixel
    return rest[:, start - 2:]


def extent(mask):
    """(first row, last row + 1) of the True pixels of a 2-D mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    return rows[0], rows[-1] + 1


def swatch_and_text_heights(panel, colour):
    """Height of the swatch of ``colour`` (its interior, inside the 1-px black outline, + 2) and of the dark text
    pixels on the same row, right of the swatch."""
    sw = (panel == colour).all(axis=2)
    top, bottom = extent(sw)
    cols = np.flatnonzero(sw.any(axis=0))
    text = (panel[top - 2:bottom + 2, cols[-1] + 3:] < 100).all(axis=2)
    t_top, t_bottom = extent(text)
    return bottom - top + 2, t_bottom - t_top


def test_legend_scales_with_a_4000x3000_image():
    """Row height is 1/30 of the image height (≥ 14 px): 100 px at 3000 px, 20 px at 600 px; the swatch is 70 % of
    a row (70 and 14 px); the text height scales by about the same factor 5 (stroke widths are whole pixels)."""
    heights = {}
    for h, w in ((3000, 4000), (600, 800)):
        img = np.full((h, w, 3), 128, np.uint8)
        labels = np.zeros((h, w), np.uint8)
        labels[:, w // 2:] = 2
        drawn = draw_overlay(img, labels, CLASSES, PALETTE)
        assert drawn.shape[0] == h
        heights[h] = swatch_and_text_heights(legend_of(drawn, w), PALETTE[2])
    assert heights[3000][0] == 70 and heights[600][0] == 14
    ratio = heights[3000][1] / heights[600][1]
    assert 4.0 <= ratio <= 7.0, heights
    assert 0.25 * 100 <= heights[3000][1] <= 0.8 * 100


def test_legend_lists_the_classes_present_in_their_colours():
    img = np.full((60, 90, 3), 100, np.uint8)
    labels = np.zeros((60, 90), np.uint8)
    labels[20:40, 30:60] = 2
    labels[0, 0] = 255                                           # ignored: left unpainted
    drawn = draw_overlay(img, labels, CLASSES, PALETTE)
    assert np.array_equal(drawn[30, 45], blend(100, PALETTE[2]))
    assert np.array_equal(drawn[5, 5], blend(100, PALETTE[0]))
    assert np.array_equal(drawn[0, 0], [100, 100, 100])
    panel = legend_of(drawn, 90)
    found = {k: (panel == c).all(axis=2) for k, c in enumerate(PALETTE)}
    assert found[0].sum() > 0 and found[2].sum() > 0                # background and dog listed, with their colours
    assert found[1].sum() == 0 and found[3].sum() == 0              # cat and grass absent from the image: not listed
    assert extent(found[0])[0] < extent(found[2])[0]                # in label order


def test_ground_truth_and_prediction_side_by_side_share_one_legend():
    img = np.full((30, 40, 3), 100, np.uint8)
    gt = np.full((30, 40), 1, np.uint8)
    pred = np.full((30, 40), 3, np.uint8)
    drawn = draw_overlay(img, [gt, pred], CLASSES, PALETTE, side_by_side=True)
    sep = 2                                                      # white separator between panels (≥ 2 px)
    assert np.array_equal(drawn[10, 10], [100, 100, 100])                       # the image
    assert np.array_equal(drawn[10, 40 + sep + 10], blend(100, PALETTE[1]))     # ground truth
    assert np.array_equal(drawn[10, 2 * (40 + sep) + 10], blend(100, PALETTE[3]))  # prediction
    panel = drawn[:, 3 * 40 + 2 * sep:]
    assert [(panel == c).all(axis=2).any() for c in PALETTE] == [False, True, False, True]


def test_two_overlapping_masks_get_distinct_colours_and_outlines():
    """TSEG's referring expressions: A covers columns 10-59, B columns 40-89 (rows 20-79), overlapping in 40-59."""
    img = np.full((100, 100, 3), 128, np.uint8)
    masks = np.zeros((2, 100, 100), bool)
    masks[0, 20:80, 10:60] = True
    masks[1, 20:80, 40:90] = True
    drawn = draw_masks(img, masks, ['the red circle', 'the square'])
    ca, cb = auto_palette(['0', '1'])
    assert ca != cb
    assert np.array_equal(drawn[50, 25], blend(128, ca))                    # A only
    assert np.array_equal(drawn[50, 75], blend(128, cb))                    # B only
    assert np.array_equal(drawn[50, 50], blend(128, (np.array(ca) + np.array(cb)) / 2))   # both: the mean colour
    assert np.array_equal(drawn[50, 40], cb) and np.array_equal(drawn[50, 59], ca)  # outlines inside the overlap
    assert np.array_equal(drawn[5, 5], [128, 128, 128])                    # neither
    panel = drawn[:, 100:]
    assert (panel == ca).all(axis=2).any() and (panel == cb).all(axis=2).any()
    with pytest.raises(ValueError, match='need K names and K×H×W masks'):
        draw_masks(img, masks, ['only one name'])


def test_tseg_overlay_colours_each_expression():
    """TSEG's demo overlay (``TSEGInferencer.overlay``): the renderer above with the expressions as legend."""
    from projects.tseg.tseg.apis import TSEGInferencer
    img = np.full((100, 100, 3), 128, np.uint8)
    masks = np.zeros((2, 100, 100), bool)
    masks[0, 20:80, 10:60] = True
    masks[1, 20:80, 40:90] = True
    drawn = TSEGInferencer.overlay(img, masks, 0.5, ['the red circle', 'the square'])
    ca, cb = auto_palette(['0', '1'])
    assert np.array_equal(drawn[50, 25], blend(128, ca)) and np.array_equal(drawn[50, 75], blend(128, cb))
    assert drawn.shape[1] > 100                                              # + legend
