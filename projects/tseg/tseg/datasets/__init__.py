"""Referring datasets (RefCOCO/+/g, PhraseCut, project JSON, generated shapes) and their pipeline steps."""
from .refer_dataset import PhraseCutSegDataset, RefCOCOSegDataset, ReferSegDataset
from .refer_format import (decode_segmentation, dump_records, load_phrasecut, load_records, load_refcoco, rle_decode,
                           rle_encode)
from .synthetic_refer import referring_expressions, write_referring_benchmark
from .transforms import (LoadReferMasks, PackReferInputs, SampleReferExpressions, SegLabelsToExpressions,
                         SwapLeftRightWords)

__all__ = ['SegLabelsToExpressions', 'ReferSegDataset', 'RefCOCOSegDataset', 'PhraseCutSegDataset', 'LoadReferMasks',
           'PackReferInputs',
           'SampleReferExpressions', 'SwapLeftRightWords', 'decode_segmentation', 'dump_records', 'load_phrasecut',
           'load_records', 'load_refcoco', 'rle_decode', 'rle_encode', 'referring_expressions',
           'write_referring_benchmark']
