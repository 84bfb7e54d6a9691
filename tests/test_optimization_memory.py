"""The memory estimate of the optimisation method and the largest size that fits."""

from __future__ import annotations

import pytest
from stylize.engine.optimization import memory


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_estimate_grows_with_the_pixels(optimizer: str) -> None:
    small = memory.estimate_bytes(256, 256, optimizer)
    large = memory.estimate_bytes(1024, 1024, optimizer)
    assert 0 < small < large
    assert large == pytest.approx(16 * small, rel=0.01)


def test_lbfgs_needs_more_than_adam() -> None:
    # L-BFGS keeps float64 correction pairs of the whole image.
    assert memory.estimate_bytes(512, 512, "lbfgs") > memory.estimate_bytes(512, 512, "adam")


def test_a_large_style_scale_costs_more() -> None:
    base = memory.estimate_bytes(512, 512, "adam")
    assert memory.estimate_bytes(512, 512, "adam", style_scale=3.0) > base


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_largest_fitting_size_fits_and_keeps_the_aspect(optimizer: str) -> None:
    available = 2 * 2**30
    width, height = memory.largest_fitting_size(4000, 3000, optimizer, available)
    assert (width, height) < (4000, 3000)
    assert memory.estimate_bytes(width, height, optimizer) <= 0.9 * available
    assert memory.estimate_bytes(width + 4, height + 3, optimizer) > 0.9 * available
    assert width / height == pytest.approx(4 / 3, rel=0.01)


def test_a_size_that_fits_is_kept() -> None:
    assert memory.largest_fitting_size(64, 48, "adam", 64 * 2**30) == (64, 48)
