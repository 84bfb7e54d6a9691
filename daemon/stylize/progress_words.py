"""The words people read about a job's progress, for the daemon's messages, the CLI and GIMP.

Stdlib only: the GIMP bridge imports it without numpy. Stages are keyed by the names of
``stylize.v1.Progress.Stage`` (``"STAGE_STYLIZING"``), the wire's one vocabulary.
"""

from __future__ import annotations

# What GIMP's status bar says for each stage (the CLI prints the daemon's messages).
STAGE_WORDS = {
    "STAGE_QUEUED": "Waiting for the daemon",
    "STAGE_RECEIVING": "Sending the layer",
    "STAGE_PREDICTING_STYLE": "Studying the style",
    "STAGE_STYLIZING": "Painting",
    "STAGE_OPTIMIZING": "Refining the painting",
    "STAGE_ENCODING": "Finishing",
}

QUEUED = "waiting for a free job slot"
RECEIVING = "receiving the image"
READING_STYLES = "reading the style images"
ENCODING = "saving the result"


def time_left(seconds: float) -> str:
    """An estimate as a person reads it: rounded to minutes, never falsely precise."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "less than a minute left"
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


def size(width: int, height: int, original: tuple[int, int]) -> str:
    """``512x384``, with ``(scaled from WxH)`` when that is not the content's own size."""
    words = f"{width}x{height}"
    if (width, height) != original:
        words += f" (scaled from {original[0]}x{original[1]})"
    return words


def painting(size_words: str) -> str:
    return f"painting at {size_words}"


def frames(done: int, total: int, fps: float, seconds_left: float) -> str:
    """A sequence's message: ``frame 12 of 128, 9.5 fps, less than a minute left``."""
    words = f"frame {done} of {total}" if total else f"frame {done}"
    if fps:
        words += f", {fps:.3g} fps"
    if seconds_left:
        words += f", {time_left(seconds_left)}"
    return words


def refining(
    size_words: str,
    scale: int,
    scales: int,
    done: int,
    total: int,
    loss: float,
    seconds_left: float,
) -> str:
    """The optimisation's message after an iteration."""
    words = f"refining at {size_words}"
    if scales > 1:
        words += f", scale {scale} of {scales}"
    words += f": iteration {done} of {total}, loss {loss:.4g}"
    if seconds_left:
        words += f", {time_left(seconds_left)}"
    return words


def status_line(stage: str, fraction: float, scale: int, scales: int, seconds_left: float) -> str:
    """What GIMP's status bar shows for one Progress event (``stage`` is its enum name)."""
    words = STAGE_WORDS.get(stage, "Painting")
    refining_stage = stage == "STAGE_OPTIMIZING"
    if refining_stage and scales > 1:
        words += f" (pass {scale} of {scales})"
    words += f"… {fraction:.0%}"
    if refining_stage and seconds_left > 0:
        words += f", {time_left(seconds_left)}"
    return words
