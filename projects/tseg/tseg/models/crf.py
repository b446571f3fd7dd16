"""Dense-CRF post-processing of TSEG's masks (paper Table 3, "TSEG (CRF)": 30.12 mIoU on PhraseCut).

A fully connected CRF (Krähenbühl & Koltun, NeurIPS 2011) through the maintained PyPI package ``pydensecrf2``
(import name ``pydensecrf``; builds from source on CPython 3.11, optional: ``pip install pydensecrf2==1.1``). The paper does
not give its CRF parameters; the defaults here are the package's documented example values (Gaussian kernel sxy 3,
compat 3; bilateral kernel sxy 80, srgb 13, compat 10; 10 mean-field iterations).

Each expression's mask m (scores in [0, 1], an independent binary decision per expression in MPA) is refined as a
two-label CRF with unaries −log([1 − m, m]) on the image; the output is the CRF's marginal of the foreground label, so
TSEG's threshold applies to it as to the raw mask. SPA (one label per pixel over background and the expressions) is
refined as one multi-label CRF over [background = 1 − Σ m, m_1, …, m_K].
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from mmseg.registry import MODELS

from mmseg_code.utils.tool import UserError

INSTALL_HINT = ('test_cfg.crf needs the dense-CRF package pydensecrf2 (optional): pip install pydensecrf2==1.1 '
                '(it compiles from source, needs a C++ compiler).')


class MissingCRFError(UserError, ImportError):
    """The optional dense-CRF package is not installed (one-line message)."""


def import_densecrf():
    """``pydensecrf.densecrf`` and ``pydensecrf.utils`` or a :class:`MissingCRFError`."""
    try:
        import pydensecrf.densecrf as dcrf
        import pydensecrf.utils as dutils
    except ImportError:
        raise MissingCRFError(INSTALL_HINT) from None
    return dcrf, dutils


@MODELS.register_module()
class DenseCRF:
    """Fully connected CRF over an RGB image.

    Args:
        iterations: mean-field iterations.
        gaussian_sxy, gaussian_compat: smoothness kernel (position only).
        bilateral_sxy, bilateral_srgb, bilateral_compat: appearance kernel (position and colour).
        eps: probabilities are clipped to [eps, 1 − eps] before −log.
    """

    def __init__(self, iterations: int = 10, gaussian_sxy: float = 3.0, gaussian_compat: float = 3.0,
                 bilateral_sxy: float = 80.0, bilateral_srgb: float = 13.0, bilateral_compat: float = 10.0,
                 eps: float = 1e-5) -> None:
        self.dcrf, self.utils = import_densecrf()          # fails at build time, not at the first image
        self.iterations = int(iterations)
        self.gaussian = (float(gaussian_sxy), float(gaussian_compat))
        self.bilateral = (float(bilateral_sxy), float(bilateral_srgb), float(bilateral_compat))
        self.eps = float(eps)

    def __call__(self, image: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """Refined marginals ``C×H×W`` (float32) of label probabilities ``probs`` ``C×H×W`` (C ≥ 2, summing to 1
        per pixel) on ``image`` ``H×W×3`` uint8."""
        c, h, w = probs.shape
        if image.shape[:2] != (h, w) or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'DenseCRF: image {image.shape} does not match probabilities {probs.shape}')
        p = np.clip(probs.astype(np.float32), self.eps, 1.0 - self.eps)
        d = self.dcrf.DenseCRF2D(w, h, c)
        d.setUnaryEnergy(np.ascontiguousarray(self.utils.unary_from_softmax(p / p.sum(0, keepdims=True))))
        d.addPairwiseGaussian(sxy=self.gaussian[0], compat=self.gaussian[1])
        d.addPairwiseBilateral(sxy=self.bilateral[0], srgb=self.bilateral[1],
                               rgbim=np.ascontiguousarray(image, dtype=np.uint8), compat=self.bilateral[2])
        return np.asarray(d.inference(self.iterations), dtype=np.float32).reshape(c, h, w)

    def refine_masks(self, image: np.ndarray, masks: torch.Tensor, multi_label: bool = False) -> torch.Tensor:
        """TSEG masks ``K×H×W`` in [0, 1] → refined ``K×H×W`` (module docstring: per-expression binary CRFs, or one
        multi-label CRF with ``multi_label`` for SPA)."""
        m = masks.detach().float().cpu().numpy()
        if multi_label:
            bg = np.clip(1.0 - m.sum(0, keepdims=True), 0.0, None)
            q = self(image, np.concatenate([bg, m]))[1:]
        else:
            q = np.stack([self(image, np.stack([1.0 - mk, mk]))[1] for mk in m]) if len(m) else m
        return torch.from_numpy(q).to(masks.device, masks.dtype)


def denormalize(img: torch.Tensor, mean: Optional[torch.Tensor], std: Optional[torch.Tensor]) -> np.ndarray:
    """A preprocessed image ``3×H×W`` (``(x − mean)/std``, channels as fed to the model) → ``H×W×3`` uint8."""
    x = img.detach().float()
    if std is not None:
        x = x * std.view(-1, 1, 1).to(x)
    if mean is not None:
        x = x + mean.view(-1, 1, 1).to(x)
    return x.clamp(0, 255).round().byte().permute(1, 2, 0).cpu().numpy()
