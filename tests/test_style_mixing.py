"""Vector arithmetic of mixing and strength, and the vector cache."""

from __future__ import annotations

import numpy as np
import pytest
from stylize.engine.errors import InvalidInputError
from stylize.engine.style_cache import StyleVectorCache, cache_key
from stylize.engine.style_mixing import mix, normalised_weights, with_strength

A = np.arange(100, dtype=np.float32)
B = np.ones(100, dtype=np.float32)


def test_mix_is_the_normalised_weighted_average() -> None:
    np.testing.assert_allclose(mix([A, B], [3, 1]), 0.75 * A + 0.25 * B, rtol=1e-6)
    np.testing.assert_array_equal(mix([A, B], [1, 0]), A)


@pytest.mark.parametrize("weights", [[1, -1], [float("nan"), 1], [0, 0], [float("inf"), 1], []])
def test_bad_weights_are_refused(weights: list[float]) -> None:
    with pytest.raises(InvalidInputError):
        normalised_weights(weights)


def test_strength_interpolates_towards_the_content() -> None:
    np.testing.assert_array_equal(with_strength(A, B, 0.0), B)
    np.testing.assert_array_equal(with_strength(A, B, 1.0), A)
    np.testing.assert_allclose(with_strength(A, B, 0.25), 0.25 * A + 0.75 * B, rtol=1e-6)


def test_cache_computes_once_per_key_and_evicts_oldest() -> None:
    cache = StyleVectorCache(capacity=2)
    calls = []

    def compute(value: float):
        return lambda: calls.append(value) or np.full(100, value, np.float32)

    k1, k2, k3 = (cache_key("encoded", bytes([i]), 256, True) for i in range(3))
    assert cache.get_or_compute(k1, compute(1))[0] == 1
    assert cache.get_or_compute(k1, compute(9))[0] == 1
    cache.get_or_compute(k2, compute(2))
    cache.get_or_compute(k3, compute(3))
    cache.get_or_compute(k1, compute(4))
    assert calls == [1, 2, 3, 4]
    assert (cache.hits, cache.misses, len(cache)) == (1, 4, 2)


def test_cache_key_depends_on_preprocessing() -> None:
    assert cache_key("encoded", b"x", 256, True) != cache_key("encoded", b"x", 384, True)
    assert cache_key("encoded", b"x", 256, True) != cache_key("encoded", b"x", 256, False)
