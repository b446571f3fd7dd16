"""Zero-shot image classification accuracy on a segmentation benchmark's images that show a single class.

For image n with ground-truth label map ``y_n`` (pixels equal to ``ignore_index`` left out) and the model's image-level
prediction ``ŷ_n`` (``pred_label``), over the set ``S`` of images whose map holds exactly one class ``c_n``:

    accuracy = 100 / |S| · Σ_{n ∈ S} [ŷ_n = c_n]

Images with several classes are not scored; ``|S|`` is reported with the accuracy.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class ZeroShotClassAccuracy(BaseMetric):
    """Accuracy of ``pred_label`` on single-class images (module doc). Reports ``zeroshot_acc`` (%) and
    ``zeroshot_images`` (|S|).

    Args:
        ignore_index: label value of pixels that are not scored (255; with ``reduce_zero_label`` the background).
    """

    def __init__(self, ignore_index: int = 255, collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ignore_index = int(ignore_index)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'pred_label' not in sample:
                raise KeyError('ZeroShotClassAccuracy: the model output has no pred_label (image-level class)')
            gt = sample['gt_sem_seg']['data']
            classes = torch.unique(gt[gt != self.ignore_index])
            if classes.numel() != 1:
                continue
            self.results.append(int(classes[0]) == int(torch.as_tensor(sample['pred_label']).reshape(-1)[0]))

    def compute_metrics(self, results: List[bool]) -> Dict[str, float]:
        n = len(results)
        return dict(zeroshot_acc=100.0 * sum(results) / n if n else float('nan'), zeroshot_images=n)
