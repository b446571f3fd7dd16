"""Training-free last blocks: MaskCLIP, SCLIP, ClearCLIP, NACLIP (one module each, formulas in their docstrings).

``last_block(name)`` returns ``forward(block, x, grid, **options) -> tokens``: the named variant of the frozen CLIP's
last residual block on the tokens entering it. Used by ``TrainingFreeHead`` (the training-free segmentors) and by
``ImageSegmenter(last_block=...)`` (TCL/CoDe on a trainable copy of the block with that attention).
"""
from __future__ import annotations

from typing import Callable

from ...utils.options import OptionError
from . import clearclip, maskclip, naclip, sclip

LAST_BLOCKS: dict[str, Callable] = {m.NAME: m.forward for m in (maskclip, sclip, clearclip, naclip)}
# variants whose output replaces x (no residual, no ln_2 / FFN): the block's ln_2 and mlp are unused
NO_FFN = ('clearclip', 'naclip')


def last_block(name: str) -> Callable:
    """The forward function of a last-block variant (``'maskclip'``, ``'sclip'``, ``'clearclip'``, ``'naclip'``)."""
    if name not in LAST_BLOCKS:
        raise OptionError(f'unknown last_block {name!r}; known: {", ".join(LAST_BLOCKS)}.')
    return LAST_BLOCKS[name]


__all__ = ['LAST_BLOCKS', 'NO_FFN', 'last_block', 'clearclip', 'maskclip', 'naclip', 'sclip']
