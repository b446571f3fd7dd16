"""COCO-Stuff stuffthingmaps → COCO-Object ``*_instanceTrainIds.png``."""
import numpy as np
from PIL import Image

from tools.dataset_converters import coco_object as conv

# Stuffthingmap values are COCO category id − 1. By the COCO category list: person id 1 → value 0 → label 1;
# fire hydrant id 11 → 10 → label 11; stop sign id 13 → 12 → label 12 (id 12 "street sign" is unused in COCO);
# dining table id 67 → 66 → label 61; toothbrush id 90 → 89 → label 80; unused id 12 → value 11 → 0;
# stuff (value ≥ 91, e.g. 91 banner, 181) → 0; unlabelled 255 → 0.
CASES = [(0, 1), (10, 11), (11, 0), (12, 12), (66, 61), (89, 80), (90, 0), (91, 0), (181, 0), (255, 0)]


def test_convert_mask_values():
    src = np.array([[v for v, _ in CASES]], np.uint8)
    out = conv.convert_mask(src)
    assert out.dtype == np.uint8
    assert out[0].tolist() == [t for _, t in CASES]
    assert len(set(conv.COCO_THING_IDS)) == 80


def test_converter_cli(tmp_path):
    ann = tmp_path / 'annotations' / 'val2017'
    ann.mkdir(parents=True)
    Image.fromarray(np.array([[0, 255], [89, 150]], np.uint8)).save(ann / '000001.png')
    Image.fromarray(np.full((2, 2), 7, np.uint8)).save(ann / '000001_labelTrainIds.png')   # mmseg's output: skipped
    assert conv.main([str(tmp_path), '--splits', 'val2017']) == 0
    out = np.array(Image.open(ann / '000001_instanceTrainIds.png'))
    assert out.tolist() == [[1, 0], [80, 0]]
    assert not (ann / '000001_labelTrainIds_instanceTrainIds.png').exists()
    # running twice does not convert its own outputs
    assert conv.main([str(tmp_path), '--splits', 'val2017']) == 0
    assert sorted(p.name for p in ann.iterdir()) == ['000001.png', '000001_instanceTrainIds.png',
                                                     '000001_labelTrainIds.png']
