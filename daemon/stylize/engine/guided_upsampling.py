"""Edge-aware upsampling of a stylization made at a working resolution.

The network paints strokes of a fixed size in pixels, so a large photo is stylized
at a smaller working size (stroke scale) and the result is brought back to full
size here. A plain resize would blur the content's edges by the same factor; this
adds them back from the full-resolution content, in proportion to how strongly
the stylization follows the content locally:

    result = up(S) + up(a) * (I - up(i))

``S`` is the stylization at the working size, ``i`` the luminance of the content
the network saw, ``I`` the full-resolution luminance (so ``I - up(i)`` is the
detail the working size lost), and ``a`` the per-channel gain of the guided
filter (He et al. 2013) fitted at the working size: ``cov(i, S) / (var(i) + eps)``
over small windows. Where the painting follows the photo's edges, ``a`` is large
and those edges come back sharp; where it paints texture of its own, ``a`` is
near 0 and the photo's fine grain stays out. This is the fast guided filter's
upsampling (He & Sun 2015) with the stroke texture kept instead of smoothed.

The fit runs at the working size (SciPy box filters: milliseconds); the full
size is only resizes (Pillow, in C) and a multiply-add, done in strips of rows,
so memory stays bounded at any size and the strips have no seams: each output
row depends only on the low-resolution arrays, never on its neighbours.
Any pixel dtype in, float32 inside, the dtype of ``stylized`` out.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

RADIUS = 2  # window radius of the guided-filter fit, in working-size pixels
EPSILON = 1e-3  # regularisation of the fit (luminance in [0, 1]): flat areas get a ~ 0
STRIP_PIXELS = 1 << 21  # full-size pixels per strip (~70 MB of float32 scratch)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # Rec. 601, as Pillow's "L"
_RESAMPLE = Image.Resampling.BICUBIC


def scratch_bytes(width: int) -> int:
    """Working memory of :func:`upsample` beyond its input and output arrays."""
    return _strip_rows(width) * width * 4 * 12


def upsample(stylized: np.ndarray, seen: np.ndarray, content: np.ndarray) -> np.ndarray:
    """``stylized`` (the working size) brought to the size of ``content``.

    ``seen`` is the content as the network saw it (the working size), ``content``
    the full-size colours; all three are [H, W, 3] of any dtype.
    """
    height, width = content.shape[:2]
    low = _to_float(stylized)
    low_luma = _luma(_to_float(seen))
    gain = _gain(low_luma, low)
    result = np.empty((height, width, 3), stylized.dtype)
    rows = _strip_rows(width)
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        up = _Resizer(low.shape[:2], (height, width), top, bottom)
        detail = _luma(_to_float(content[top:bottom])) - up(low_luma[..., None])[..., 0]
        strip = up(low) + up(gain) * detail[..., None]
        result[top:bottom] = _from_float(strip, stylized.dtype)
    return result


def _gain(guide: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-pixel, per-channel slope of the guided filter fitting ``target`` from ``guide``."""
    from scipy import ndimage  # 0.2-0.3 s: imported by the daemon's warm-up, after SERVING

    size = 2 * RADIUS + 1

    def mean(x: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(x, size=(size, size, 1)[: x.ndim], mode="reflect")

    mean_guide = mean(guide)
    variance = mean(guide * guide) - mean_guide * mean_guide
    covariance = mean(guide[..., None] * target) - mean_guide[..., None] * mean(target)
    slope = covariance / (np.maximum(variance, 0)[..., None] + EPSILON)
    return mean(slope).astype(np.float32)  # averaged over the windows, as the guided filter


class _Resizer:
    """Resizes [h, w, C] float32 arrays to rows ``top:bottom`` of the full size."""

    def __init__(self, low: tuple[int, int], full: tuple[int, int], top: int, bottom: int) -> None:
        scale = low[0] / full[0]
        self._box = (0.0, top * scale, float(low[1]), bottom * scale)
        self._size = (full[1], bottom - top)

    def __call__(self, array: np.ndarray) -> np.ndarray:
        channels = [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(array[..., c]), "F").resize(
                    self._size, _RESAMPLE, box=self._box
                )
            )
            for c in range(array.shape[2])
        ]
        return np.stack(channels, axis=2)


def _strip_rows(width: int) -> int:
    return max(8, STRIP_PIXELS // max(width, 1))


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb @ _LUMA, np.float32)


def _to_float(array: np.ndarray) -> np.ndarray:
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float32) * np.float32(1.0 / np.iinfo(array.dtype).max)
    return array.astype(np.float32, copy=False)


def _from_float(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        top = np.iinfo(dtype).max
        return np.clip(np.rint(array * top), 0, top).astype(dtype)
    return np.clip(array, 0.0, 1.0).astype(dtype)
