"""Helpers for the evaluation and API tests: a tiny TCL config, a tiny VOC-layout dataset, hand-made score maps."""
import math
import os
import os.path as osp

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]

TINY_MODEL = dict(
    type='TCL',
    clip=dict(type='OpenCLIP', model_name='mmcode-tiny-vit-p16'),
    decode_head=dict(type='ImageSegmenter'),
    data_preprocessor=dict(type='SegDataPreProcessor', mean=IMAGENET_MEAN, std=IMAGENET_STD, bgr_to_rgb=True),
    test_cfg=dict(mode='whole', pamr=False, kp_weight=0.0))


def write_model_config(path, model=TINY_MODEL, extra: str = '') -> str:
    """A plugin model config file (no dataset parts)."""
    with open(path, 'w') as f:
        f.write("custom_imports = dict(imports=['mmseg_code'], allow_failed_imports=False)\n"
                "default_scope = 'mmseg'\n"
                f'model = {model!r}\n' + extra)
    return str(path)


# ---------------------------------------------------------------------------------------------- tiny VOC
# Solid-colour images 32×48 (H×W). Their VOC labels (0 background, 1 aeroplane, 2 bicycle, 3 bird, 255 ignore):
#   red   : left 24 columns aeroplane, right 24 background
#   green : left 16 columns bicycle, right 32 bird
#   blue  : background, with a 2-pixel ignore border (28×44 valid pixels)
H, W = 32, 48
COLOURS = dict(red=(255, 0, 0), green=(0, 255, 0), blue=(0, 0, 255))


def voc_labels(colour: str) -> np.ndarray:
    lab = np.zeros((H, W), np.uint8)
    if colour == 'red':
        lab[:, :24] = 1
    elif colour == 'green':
        lab[:, :16] = 2
        lab[:, 16:] = 3
    else:
        lab[:] = 255
        lab[2:-2, 2:-2] = 0
    return lab


def make_voc(root) -> str:
    """``<root>/VOCdevkit/VOC2012`` with the three images above (val split)."""
    voc = osp.join(str(root), 'VOCdevkit', 'VOC2012')
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(osp.join(voc, sub), exist_ok=True)
    for name, rgb in COLOURS.items():
        Image.fromarray(np.full((H, W, 3), rgb, np.uint8)).save(osp.join(voc, 'JPEGImages', f'{name}.jpg'),
                                                               quality=100)
        Image.fromarray(voc_labels(name)).save(osp.join(voc, 'SegmentationClass', f'{name}.png'))
    with open(osp.join(voc, 'ImageSets/Segmentation/val.txt'), 'w') as f:
        f.write('\n'.join(COLOURS) + '\n')
    return voc


# ---------------------------------------------------------------------------------------------- score maps
def logit_to_cos(mask_value: float, w: float = 10.0, b: float = -2.5) -> float:
    """The cosine c with σ(w·c + b) = mask_value (Sim2Mask at its initial w, b)."""
    return (math.log(mask_value / (1 - mask_value)) - b) / w


# Hand-made foreground scores per image colour (index of the first foreground class → mask value);
# every other class gets σ(−2.5) ≈ 0.076 (cosine 0).
RED_SCORE = 0.45       # aeroplane: above 0.4 (PAMR threshold), below 0.5 (no-PAMR threshold)
GREEN_SCORE = 0.7      # bicycle: above both thresholds
SCORES = {0: {0: RED_SCORE}, 1: {1: GREEN_SCORE}, 2: {}}   # dominant RGB channel → {fg class: score}


def install_hand_made_scores(monkeypatch):
    """Make every plugin segmentor with an ``ImageSegmenter`` head produce the hand-made masks above through its real
    predict path.

    The text classifier's ``encode_names`` returns one-hot class embeddings; the image encoder and the head together
    return, at 1/4 resolution, unit features whose cosine with class k is ``logit_to_cos(score)`` (0 for the others),
    chosen from the dominant colour channel of the window. Everything after that (Sim2Mask, PAMR, background plane,
    slide, resize, argmax, IoUMetric) is the code under test. Returns a dict counting the calls.
    """
    from mmseg_code.models.clip.image_encoder import CLIPFeatures, CLIPImageEncoder
    from mmseg_code.models.heads.image_segmenter import ImageSegmenter
    from mmseg_code.models.pamr import PAMR
    from mmseg_code.models.text_classifier import TextClassifier
    calls = dict(encode_vocabulary=0, pamr=0)
    pamr_forward = PAMR.forward

    def counting_pamr(self, img, masks):
        calls['pamr'] += 1
        return pamr_forward(self, img, masks)

    def encode_names(self, names):
        calls['encode_vocabulary'] += 1
        d = self.text_encoder.embed_dim
        assert len(names) < d
        return torch.eye(d)[:len(names)]

    def image_features(self, inputs):
        b, _, h, w = inputs.shape
        d = self.embed_dim
        feats = torch.zeros(b, d, h // 4, w // 4)
        for i in range(b):
            channel = int(inputs[i].mean(dim=(1, 2)).argmax())
            vec = torch.zeros(d)
            for k, score in SCORES[channel].items():
                vec[k] = logit_to_cos(score)
            vec[d - 1] = math.sqrt(1 - float((vec ** 2).sum()))
            feats[i] = vec.view(d, 1, 1)
        return CLIPFeatures(tokens=feats, grid=None, dense=None)      # the head below passes them on

    monkeypatch.setattr(TextClassifier, 'encode_names', encode_names)
    monkeypatch.setattr(CLIPImageEncoder, 'forward', image_features)
    monkeypatch.setattr(ImageSegmenter, 'forward', lambda self, inputs: inputs.tokens)
    monkeypatch.setattr(PAMR, 'forward', counting_pamr)
    return calls
