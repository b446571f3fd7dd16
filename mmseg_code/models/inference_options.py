"""Inference-speed options of the segmentors' ``test_cfg`` (none changes the protocol, only how it is computed):

* ``window_batch`` — sliding windows (of one image and of every image of the batch) go through the image encoder and
  the decode head ``window_batch`` at a time (fewer when their score maps would exceed :data:`WINDOW_SCORES_BUDGET`);
  the crop grid and the averaging are mmseg's ``slide_inference``'s (:func:`slide_windows`). ``None`` or 1: mmseg's
  own window-by-window loop.
* ``dtype`` — ``'fp32'`` | ``'fp16'`` | ``'bf16'``: autocast (:func:`autocast_for`) of the frozen image encoder and of
  the decode head's dense features; the L2 normalisation, the class scores (sigmoid/softmax), PAMR, the KP mix, the
  resize and the averaged window scores stay fp32. The vocabulary's class embeddings are computed once per
  vocabulary in fp32 (cached; not on the per-image path).
* ``compile`` — ``torch.compile`` of the frozen image encoder for inference (:class:`CompiledEncoder`); where
  compilation fails (no C compiler, an inductor or dynamo error, an unsupported platform) one warning line is logged
  and the encoder runs eagerly from then on.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Optional

import torch
import torch.nn as nn

from ..utils.options import OptionError

DTYPES = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}

# Most bytes of fp32 window scores (C × h × w × 4 each) one chunk of windows may produce: a chunk holds fewer than
# ``window_batch`` windows when a large vocabulary would exceed it (COCO-Stuff, 172 channels at 448²: 138 MB a window).
WINDOW_SCORES_BUDGET = 1 << 30

DEFAULT_WINDOW_BATCH = 8


def check_inference_options(cfg: dict) -> None:
    """One-line :class:`OptionError` for an unusable ``window_batch``, ``dtype`` or ``compile``."""
    wb = cfg.get('window_batch')
    if wb is not None and (isinstance(wb, bool) or not isinstance(wb, int) or wb < 1):
        raise OptionError(f'test_cfg.window_batch must be None or an integer >= 1, got {wb!r}.')
    if cfg.get('dtype', 'fp32') not in DTYPES:
        raise OptionError(f"test_cfg.dtype must be one of {', '.join(map(repr, DTYPES))}, got {cfg['dtype']!r}.")
    if not isinstance(cfg.get('compile', False), bool):
        raise OptionError(f"test_cfg.compile must be True or False, got {cfg['compile']!r}.")


def autocast_for(device: torch.device, dtype: Optional[str]):
    """``torch.autocast`` for ``test_cfg.dtype`` on ``device`` (a null context for ``'fp32'``/None)."""
    dtype = dtype or 'fp32'
    if dtype not in DTYPES:
        raise OptionError(f"test_cfg.dtype must be one of {', '.join(map(repr, DTYPES))}, got {dtype!r}.")
    dt = DTYPES[dtype]
    if dt is None:
        return contextlib.nullcontext()
    if not torch.amp.is_autocast_available(device.type):
        raise OptionError(f"test_cfg.dtype={dtype!r} needs autocast, which torch {torch.__version__} does not offer "
                          f"on {device.type}; use dtype='fp32'.")
    return torch.autocast(device.type, dtype=dt)


def slide_windows(h_img: int, w_img: int, crop_size, stride) -> list[tuple[int, int, int, int]]:
    """mmseg's ``slide_inference`` crop grid: ``(y1, y2, x1, x2)`` per window, rows first. Windows are clamped inside
    the image, so all have the size ``(min(h_crop, h_img), min(w_crop, w_img))``."""
    h_crop, w_crop = crop_size
    h_stride, w_stride = stride
    h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
    boxes = []
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y1, x1 = h_idx * h_stride, w_idx * w_stride
            y2, x2 = min(y1 + h_crop, h_img), min(x1 + w_crop, w_img)
            y1, x1 = max(y2 - h_crop, 0), max(x2 - w_crop, 0)
            boxes.append((y1, y2, x1, x2))
    return boxes


def windows_per_chunk(window_batch: int, channels: int, window_hw: tuple[int, int]) -> int:
    """``window_batch``, lowered so that a chunk's fp32 scores stay within :data:`WINDOW_SCORES_BUDGET` (≥ 1)."""
    per_window = max(1, channels * window_hw[0] * window_hw[1] * 4)
    return max(1, min(int(window_batch), WINDOW_SCORES_BUDGET // per_window))


class CompiledEncoder:
    """``torch.compile`` of a frozen image encoder, compiled on the first call; any failure (at creation or at a
    call: no C compiler, inductor/dynamo errors, unsupported platform) logs one warning line and the eager encoder
    is used from then on (a genuine error of the input then re-raises from the eager call).

    Held outside the module tree (a plain attribute of the segmentor's ``__dict__``), so it adds no state-dict keys.
    """

    def __init__(self, encoder: nn.Module) -> None:
        self.encoder = encoder
        self.failed: Optional[str] = None
        self._compiled = None

    def __call__(self, x: torch.Tensor):
        if self.failed is None:
            try:
                if self._compiled is None:
                    self._compiled = torch.compile(self.encoder)
                return self._compiled(x)
            except Exception as err:  # noqa: BLE001  (any compile failure: fall back, once, with one line)
                first = (str(err).strip().splitlines() or [''])[0][:200]
                self.failed = f'{type(err).__name__}: {first}'
                from mmengine.logging import print_log
                print_log(f'test_cfg.compile: torch.compile of the image encoder failed ({self.failed}); '
                          'running it eagerly.', logger='current', level=logging.WARNING)
        return self.encoder(x)
