"""``stylize apply --method optimize`` as a user runs it: options, saved steps, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import sample_photo
from PIL import Image
from stylize.engine.images import PixelMode, Pixels
from stylize.jobs.progress import Progress, Stage, Step
from stylize.server.event_queue import EventQueue
from test_cli import run


def photo(tmp_path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    path = tmp_path / "photo.png"
    sample_photo(*size).save(path)
    return path


def test_optimize_saves_every_n_iterations_and_the_result(
    daemon_address: str, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "result.png"
    result = run(
        "apply", str(photo(tmp_path)), "--style", "starry_night", "--output", str(out),
        "--method", "optimize", "--iterations", "4", "--optimizer", "adam",
        "--save-every", "2", "--style-weight", "1000", "--address", daemon_address,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = sorted(p.name for p in out.parent.iterdir())
    assert saved == ["result.png", "result_0002.png", "result_0004.png"]
    for name in saved:
        assert Image.open(out.parent / name).size == (64, 48)
    assert "iteration 4 of 4" in result.stderr


@pytest.mark.slow
def test_optimize_runs_locally_through_the_same_job_builder(tmp_path: Path) -> None:
    out = tmp_path / "local.png"
    result = run(
        "apply", str(photo(tmp_path)), "--style", "starry_night", "--output", str(out),
        "--method", "optimize", "--iterations", "2", "--init", "noise", "--seed", "3",
        "--local", "--save-every", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (64, 48)
    assert (tmp_path / "local_0001.png").exists() and (tmp_path / "local_0002.png").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--iterations", "5"], "--iterations need(s) --method optimize"),
        (["--method", "optimize", "--iterations", "0"], "--iterations must be at least 1"),
        (["--method", "optimize", "--save-every", "-2"], "--save-every must be at least 1"),
        (["--method", "optimize", "--scales", "256,big"], "--scales takes long sides"),
        (["--method", "optimize", "--init", "nowhere.png"], "no such file"),
        (["--method", "optimize", "--optimizer", "sgd"], "invalid choice"),
    ],
)
def test_bad_optimisation_options_are_usage_errors(
    tmp_path: Path, args: list[str], words: str
) -> None:
    result = run(
        "apply", str(photo(tmp_path)), "--style", "starry_night", "-o", str(tmp_path / "o.png"),
        *args,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_a_bad_weight_from_the_daemon_is_a_runtime_error(
    daemon_address: str, tmp_path: Path
) -> None:
    result = run(
        "apply", str(photo(tmp_path)), "--style", "starry_night", "-o", str(tmp_path / "o.png"),
        "--method", "optimize", "--tv-weight", "nan", "--address", daemon_address,
    )  # fmt: skip
    assert result.returncode == 1
    assert "tv_weight must be a finite number" in result.stderr


def test_ctrl_c_keeps_the_best_picture_so_far(daemon_address: str, tmp_path: Path) -> None:
    out = tmp_path / "best.png"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stylize",
            "apply",
            str(photo(tmp_path)),
            "--style",
            "starry_night",
            "--output",
            str(out),
            "--method",
            "optimize",
            "--iterations",
            "50000",
            "--optimizer",
            "adam",
            "--address",
            daemon_address,
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    seen = ""
    while "refining at" not in seen and time.monotonic() < deadline:
        seen += process.stderr.read(1)
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 0, seen[-500:] + rest
    assert "finishing with the best picture so far" in rest
    assert Image.open(out).size == (64, 48)


# -- the stream's event queue --------------------------------------------------------------


def step(number: int, preview: bool = False) -> Progress:
    done = Step(number, 100, 1, 1, None, 0.0)  # type: ignore[arg-type]
    pixels = Pixels(array=__import__("numpy").zeros((2, 2, 3), "uint8"), mode=PixelMode.RGB)
    return Progress(
        Stage.PAINTING, number / 100, f"step {number}", step=done,
        preview=pixels if preview else None,
    )  # fmt: skip


def test_a_slow_reader_gets_the_latest_progress_and_preview_not_a_backlog() -> None:
    queue = EventQueue()
    queue.put(Progress(Stage.PREPARING, 0.0, "reading"))
    for number in range(1, 1001):
        queue.put(step(number, preview=number % 10 == 0))
    assert len(queue) == 3  # one per stage, and one preview
    queue.close()
    got = []
    while (item := queue.get()) is not None:
        got.append((item.message, item.preview is not None))
    assert got == [("reading", False), ("step 1000", True)] or got == [
        ("reading", False),
        ("step 999", False),
        ("step 1000", True),
    ]
