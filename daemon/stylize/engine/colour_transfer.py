"""Colour matching: give one image another's colour statistics, in CIELAB.

Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer" (CVPR 2017),
section 5.1 ("colour histogram matching"): a linear map that gives the source's
pixels the target's mean and covariance, ``x' = A (x - mu_s) + mu_t`` with
``A = Sigma_t^(1/2) Sigma_s^(-1/2)`` (symmetric square roots, the variant they found
to look best). We do it in CIELAB rather than RGB, so the map moves lightness and
the two opponent colour axes, which is closer to how the change is seen. The
sRGB <-> Lab conversions are OpenCV's float32 ones (D65 white), so 8-bit, 16-bit
and float images are matched alike, without 8-bit rounding of Lab in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from stylize.engine.images import Depth, PixelMode, Pixels, from_unit, to_unit

_EPSILON = 1e-3  # regularises nearly flat images (a single colour has no covariance)


@dataclass(frozen=True)
class ColourStats:
    """Mean [3] and covariance [3, 3] of an image's pixels in CIELAB."""

    mean: np.ndarray
    covariance: np.ndarray

    def digest(self) -> str:
        """A short stable key (for caches), to 0.01 Lab units."""
        values = np.round(np.concatenate([self.mean, self.covariance.ravel()]), 2)
        return ",".join(f"{v:g}" for v in values)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB [H, W, 3] of any depth (floats clipped to 0..1) -> float64 Lab (L 0..100)."""
    unit = np.clip(to_unit(rgb), 0.0, 1.0).astype(np.float32)
    return cv2.cvtColor(unit, cv2.COLOR_RGB2Lab).astype(np.float64)


def from_lab(lab: np.ndarray, depth: Depth = Depth.U8) -> np.ndarray:
    """Lab as :func:`to_lab` gives it -> sRGB at ``depth``, clipped to the gamut."""
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    return from_unit(np.clip(rgb, 0.0, 1.0), depth)


def colour_stats(rgb: np.ndarray) -> ColourStats:
    pixels = to_lab(rgb).reshape(-1, 3)
    return ColourStats(pixels.mean(axis=0), np.cov(pixels, rowvar=False))


def mixed_stats(stats: Sequence[ColourStats], weights: Sequence[float]) -> ColourStats:
    """Statistics of a blend of images (weights normalised): the mixture's mean and covariance."""
    w = np.asarray(weights, np.float64) / float(sum(weights))
    means = np.stack([s.mean for s in stats])
    mean = w @ means
    covariance = sum(
        wi * (s.covariance + np.outer(m - mean, m - mean))
        for wi, s, m in zip(w, stats, means, strict=True)
    )
    return ColourStats(mean, np.asarray(covariance))


def _sqrt_and_inverse_sqrt(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, vectors = np.linalg.eigh(matrix + _EPSILON * np.eye(3))
    values = np.maximum(values, _EPSILON)
    root = (vectors * np.sqrt(values)) @ vectors.T
    inverse_root = (vectors / np.sqrt(values)) @ vectors.T
    return root, inverse_root


def match(rgb: np.ndarray, target: ColourStats) -> np.ndarray:
    """RGB [H, W, 3] recoloured to have ``target``'s mean and covariance (same dtype out)."""
    lab = to_lab(rgb)
    pixels = lab.reshape(-1, 3)
    source = ColourStats(pixels.mean(axis=0), np.cov(pixels, rowvar=False))
    target_root, _ = _sqrt_and_inverse_sqrt(target.covariance)
    _, source_inverse_root = _sqrt_and_inverse_sqrt(source.covariance)
    transform = target_root @ source_inverse_root
    mapped = (pixels - source.mean) @ transform.T + target.mean
    return from_lab(mapped.reshape(lab.shape), Depth.of(rgb))


def match_pixels(pixels: Pixels, target: ColourStats) -> Pixels:
    """:func:`match` for any pixel mode and depth: alpha passes through, grey images are
    left as they are, and float samples outside 0..1 keep their part outside."""
    if pixels.mode.is_gray:
        return pixels
    rgb = np.ascontiguousarray(pixels.array[..., :3])
    colour = match(rgb, target)
    if pixels.depth is Depth.F32:
        colour = colour + (rgb - np.clip(rgb, 0.0, 1.0))
    if pixels.mode is PixelMode.RGBA:
        colour = np.concatenate([colour, pixels.array[..., 3:]], axis=2)
    return Pixels(np.ascontiguousarray(colour), pixels.mode)
