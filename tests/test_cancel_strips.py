"""A cancelled full-resolution job stops within one strip, not at the end of a pass.

Issue 18 (low): a cancelled huge full-resolution job ran on. The strip path
(engine/strip_inference.py) checks the job's cancel between strips of every pass
(contract, each residual layer, expand, finish), through the same ``cancelled`` check
jobs/method.Controls carries; this holds it to that bound on a large image.
"""

from __future__ import annotations

import numpy as np
import pytest
from stylize.engine import images
from stylize.engine.errors import CancelledError
from stylize.engine.stroke_scale import MIN_STROKE_SCALE
from stylize.engine.style_engine import StyleEngine, StylizeOptions, StylizeProgress


@pytest.mark.parametrize("cancel_after", ["contract", "residual"])
def test_a_cancelled_large_job_stops_within_one_strip(
    engine: StyleEngine, cancel_after: str
) -> None:
    pixels = images.Pixels(np.zeros((2048, 1024, 3), np.uint8), images.PixelMode.RGB)
    vector = np.zeros(100, np.float32)
    cancel = {"set": False, "runs after": 0}
    backend = engine.backend
    real_run = backend.run

    def counted_run(*args: object) -> list[np.ndarray]:
        if cancel["set"]:
            cancel["runs after"] += 1
        return real_run(*args)  # type: ignore[arg-type]

    def on_step(step: StylizeProgress) -> None:
        if step.stage == cancel_after:  # the first pass of that kind has just ended
            cancel["set"] = True

    whole, rows = engine.max_whole_pixels, engine.strip_rows
    engine.max_whole_pixels, engine.strip_rows = 0, 64  # 2048 rows: 32 strips a pass
    backend.run = counted_run  # type: ignore[method-assign]
    try:
        with pytest.raises(CancelledError):
            full = StylizeOptions(stroke_scale=MIN_STROKE_SCALE)  # the network at 2048x1024
            engine.stylize(pixels, vector, full, on_step, lambda: bool(cancel["set"]))
    finally:
        backend.run = real_run  # type: ignore[method-assign]
        engine.max_whole_pixels, engine.strip_rows = whole, rows
    assert cancel["set"]
    assert cancel["runs after"] == 0  # not one more strip ran once it was cancelled
