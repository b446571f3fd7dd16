"""Pack an image-caption sample into ``dict(inputs, data_samples)`` for ``SegDataPreProcessor`` and the models."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS
from mmseg.structures import SegDataSample

DATA_FIELDS = ('text_ids', 'noun_valid', 'noun_token_mask', 'word_labels')


@TRANSFORMS.register_module()
class PackImageTextInputs(BaseTransform):
    """Pack for text-supervised training.

    Returns ``dict(inputs=uint8 tensor (3, H, W) in BGR order, data_samples=SegDataSample)`` where the sample has

    * metainfo: ``caption`` (cleaned), ``nouns`` (list of J str, '' for empty slots), ``img_shape``, ``ori_shape``,
      ``key`` and any further ``meta_keys`` present in ``results``;
    * data fields: ``text_ids`` LongTensor[L], ``noun_valid`` BoolTensor[J], ``noun_token_mask`` BoolTensor[J, L],
      ``word_labels`` LongTensor[L] (-1 ignore, 0 unselected caption noun, j+1 selected noun j).

    Fields a pipeline did not produce (e.g. no noun selection for TCL) are left out; ``text_ids`` is required.
    """

    def __init__(self, meta_keys: Sequence[str] = ('key', 'caption', 'nouns', 'img_shape', 'ori_shape', 'source',
                                                   'eot_index')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        if 'text_ids' not in results:
            raise KeyError('PackImageTextInputs: no text_ids; put TokenizeCaptionWithNouns before it in the pipeline')
        sample = SegDataSample()
        sample.text_ids = torch.as_tensor(results['text_ids'], dtype=torch.long)
        if 'noun_valid' in results:
            sample.noun_valid = torch.as_tensor(np.asarray(results['noun_valid'], dtype=bool))
        if 'noun_token_mask' in results:
            sample.noun_token_mask = torch.as_tensor(np.asarray(results['noun_token_mask'], dtype=bool))
        if 'word_labels' in results:
            sample.word_labels = torch.as_tensor(results['word_labels'], dtype=torch.long)
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
