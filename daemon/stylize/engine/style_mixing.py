"""Mixing style vectors and setting style strength: plain vector arithmetic."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from stylize.engine.errors import InvalidInputError
from stylize.engine.network_layout import STYLE_VECTOR_SIZE


def check_vector(values: Sequence[float] | np.ndarray, what: str = "style vector") -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32).reshape(-1)
    if vector.size != STYLE_VECTOR_SIZE:
        raise InvalidInputError(
            f"{what} has {vector.size} values; it must have {STYLE_VECTOR_SIZE}"
        )
    if not np.isfinite(vector).all():
        raise InvalidInputError(f"{what} contains NaN or infinite values")
    return vector


class WeightError(InvalidInputError):
    """A style weight is unusable; ``index`` is the (0-based) style it belongs to."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


def normalised_weights(weights: Sequence[float]) -> np.ndarray:
    """Weights scaled to sum to 1; negative, NaN or all-zero weights are refused."""
    if not weights:
        raise InvalidInputError("at least one style is required")
    for index, weight in enumerate(weights):
        if not math.isfinite(weight) or weight < 0:
            raise WeightError(
                f"style {index + 1} has weight {weight}; weights must be finite and >= 0", index
            )
    total = float(sum(weights))
    if total <= 0 or not math.isfinite(total):
        raise WeightError(
            "all style weights are zero (or too large to add up); give at least one a "
            "positive, moderate weight",
            0,
        )
    return np.asarray(weights, dtype=np.float64) / total


def mix(vectors: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted average of style vectors (weights normalised)."""
    if len(vectors) != len(weights):
        raise InvalidInputError(f"{len(vectors)} styles but {len(weights)} weights")
    normalised = normalised_weights(weights)
    stacked = np.stack([check_vector(v) for v in vectors]).astype(np.float64)
    return (normalised @ stacked).astype(np.float32)


def check_strength(strength: float) -> float:
    if not math.isfinite(strength) or not 0.0 <= strength <= 1.0:
        raise InvalidInputError(f"strength is {strength}; it must be between 0 and 1")
    return float(strength)


def with_strength(mixed: np.ndarray, content_vector: np.ndarray, strength: float) -> np.ndarray:
    """``s * mixed + (1 - s) * content_vector``: 0 gives the content's own style.

    As in Ghiasi et al. 2017 (section 7.3) and Magenta's interpolation demo.
    """
    s = check_strength(strength)
    return (s * mixed.astype(np.float64) + (1.0 - s) * content_vector.astype(np.float64)).astype(
        np.float32
    )
