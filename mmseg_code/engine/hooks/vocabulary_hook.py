"""Give the model the evaluation dataset's class names as its vocabulary before validation/testing.

MMEngine's loops hand ``dataset.metainfo`` to the evaluator and the visualizer but not to the model; an
open-vocabulary segmentor needs it too. This hook sets ``model.dataset_meta`` (``TextSupervisedSegmentor``
then uses ``metainfo['classes']`` as its vocabulary unless the config fixed one) before each val/test run.
"""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class DatasetVocabularyHook(Hook):
    """Set ``model.dataset_meta`` from the val/test dataset's ``metainfo`` before the loop runs."""

    priority = 'HIGH'

    @staticmethod
    def _set(runner, loop) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        meta = getattr(loop.dataloader.dataset, 'metainfo', None)
        if meta and hasattr(model, 'set_vocabulary'):
            model.dataset_meta = dict(meta)

    def before_val(self, runner) -> None:
        self._set(runner, runner.val_loop)

    def before_test(self, runner) -> None:
        self._set(runner, runner.test_loop)
