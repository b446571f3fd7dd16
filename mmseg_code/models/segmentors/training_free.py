"""``TrainingFreeSegmentor``: inference-only open-vocabulary segmentation with a frozen CLIP (MaskCLIP, SCLIP,
ClearCLIP, NACLIP), on the same encoder-decoder as TCL and CoDe.

The parts are TCL's and CoDe's: the frozen ``OpenCLIP`` (image encoder, text tower), the ``TextClassifier``
(vocabulary, prompt templates, synonyms, background), mmseg's whole/slide inference, PAMR and the background plane of
:class:`OpenVocabularyHead`. Only the decode head differs: :class:`TrainingFreeHead` runs CLIP's own last block with
the method's attention (``mmseg_code/models/training_free/<method>.py``) and scores the synonyms by a softmax.

Nothing trains: :meth:`loss` raises, and a checkpoint is not needed (``tools/test.py CONFIG none``).
"""
from __future__ import annotations

from mmseg.registry import MODELS

from ...utils.tool import UserError
from .base import DEFAULT_TEST_CFG, TextSupervisedSegmentor

# the training-free protocol of this plugin: no PAMR, no KP mix, background iff max probability <= 0.1
# (SCLIP's and NACLIP's prob_thd); slide windows as TCL's (the benchmark configs set them)
TRAINING_FREE_TEST_CFG = dict(DEFAULT_TEST_CFG, pamr=False, kp_weight=0.0, bg_thresh=0.1)


class InferenceOnlyError(UserError, RuntimeError):
    """A training-free segmentor was asked to train."""


@MODELS.register_module()
class TrainingFreeSegmentor(TextSupervisedSegmentor):
    """Frozen CLIP + text classifier + :class:`TrainingFreeHead`; inference only.

    Args:
        clip: ``OpenCLIP`` config (frozen).
        decode_head: ``dict(type='TrainingFreeHead', last_block='maskclip'|'sclip'|'clearclip'|'naclip', ...)``.
        text_encoder: text classifier config (the training-free configs: ``TextClassifier`` with the 80 ImageNet
            templates, ``templates='imagenet80'``).
        test_cfg: as :class:`TextSupervisedSegmentor`, defaults ``pamr=False``, ``kp_weight=0``, ``bg_thresh=0.1``
            (None also means 0.1: the probability threshold, not TCL's 0.4/0.5).
        **kwargs: :class:`TextSupervisedSegmentor` arguments.
    """

    default_test_cfg: dict = TRAINING_FREE_TEST_CFG

    def __init__(self, clip: dict, decode_head: dict = dict(type='TrainingFreeHead'),
                 text_encoder: dict = dict(type='TextClassifier', templates='imagenet80'), **kwargs) -> None:
        super().__init__(clip=clip, decode_head=decode_head, text_encoder=text_encoder, **kwargs)

    @classmethod
    def check_test_cfg(cls, test_cfg):
        cfg = super().check_test_cfg(test_cfg)
        if cfg['bg_thresh'] is None:
            cfg['bg_thresh'] = TRAINING_FREE_TEST_CFG['bg_thresh']
        return cfg

    @property
    def method(self) -> str:
        """The last block's name (``'sclip'``, ...)."""
        return getattr(self.decode_head, 'last_block', type(self.decode_head).__name__)

    def loss(self, inputs, data_samples: list) -> dict:
        raise InferenceOnlyError(
            f'{type(self).__name__} ({self.method}) is training-free: it has no trainable weights and no loss. '
            f'Evaluate it with tools/test.py CONFIG none, or train TCL/CoDe on this block with '
            f"model.decode_head.last_block='{self.method}'.")
