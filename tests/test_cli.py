"""The ``stylize`` command as a user runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, STYLES, encode, mean_abs_diff, sample_photo
from PIL import Image
from stylize.client.apply_plan import parse_style_spec


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stylize", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("a.jpg", ("a.jpg", 1.0)),
        ("a.jpg:0.3", ("a.jpg", 0.3)),
        ("C:\\art\\a.jpg:2", ("C:\\art\\a.jpg", 2.0)),
        ("C:\\art\\a.jpg", ("C:\\art\\a.jpg", 1.0)),
        ("starry_night:0.5", ("starry_night", 0.5)),
    ],
)
def test_style_spec_parsing(spec: str, expected: tuple[str, float]) -> None:
    assert parse_style_spec(spec) == expected


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["apply"], ["predict-style"], ["styles"], ["info"]]
)
def test_help_everywhere(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "usage: stylize" in result.stdout


def test_apply_through_the_daemon_mixing_two_styles(daemon_address: str, tmp_path: Path) -> None:
    content = tmp_path / "photo.png"
    sample_photo(80, 60).save(content)
    out = tmp_path / "out.jpg"
    result = run(
        "apply",
        str(content),
        "--style",
        str(STYLES / "starry_night.jpg") + ":0.7",
        "--style",
        "great_wave:0.3",
        "--strength",
        "0.9",
        "-o",
        str(out),
        "--address",
        daemon_address,
    )
    assert result.returncode == 0, result.stderr
    assert "100%" in result.stderr
    stylized = Image.open(out)
    assert stylized.size == (80, 60)
    assert mean_abs_diff(np.asarray(stylized), np.asarray(sample_photo(80, 60))) > 15


def test_a_sixteen_bit_png_gives_a_sixteen_bit_png(daemon_address: str, tmp_path: Path) -> None:
    rgb = np.asarray(sample_photo(80, 60), np.float64) / 255.0
    smooth = np.rint((rgb + np.roll(rgb, 1, axis=1)) / 2.0 * 65535).astype(np.uint16)
    content = tmp_path / "photo16.tif"  # a 16-bit TIFF in: the encoded path keeps 16 bits
    import cv2

    cv2.imwrite(str(content), smooth[..., ::-1])
    png16 = tmp_path / "photo16.png"
    cv2.imwrite(str(png16), smooth[..., ::-1])
    for source, out in ((png16, tmp_path / "out.png"), (content, tmp_path / "out.tif")):
        result = run(
            "apply", str(source), "-s", "starry_night", "-o", str(out), "--address", daemon_address
        )
        assert result.returncode == 0, result.stderr
        written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
        assert (written.dtype, written.shape) == (np.uint16, (60, 80, 3))
        assert np.mean(written % 257 != 0) > 0.9  # not 8-bit levels scaled up
        assert np.abs(written / 65535.0 - smooth[..., ::-1] / 65535.0).mean() > 0.05  # painted
    as_jpeg = tmp_path / "out.jpg"  # an 8-bit format takes the 16-bit result, reduced
    result = run("apply", str(png16), "-s", "starry_night", "-o", str(as_jpeg), "--address",
                 daemon_address)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(as_jpeg).mode == "RGB"


@pytest.mark.slow
def test_apply_local_without_a_daemon(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    result = run(
        "apply",
        str(SAMPLES / "chelsea.jpg"),
        "--style",
        "shipwreck",
        "--local",
        "--max-side",
        "128",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == Image.open(SAMPLES / "chelsea.jpg").size


@pytest.mark.slow
def test_apply_without_daemon_says_how_to_start_one(tmp_path: Path) -> None:
    result = run(
        "apply",
        str(SAMPLES / "astronaut.jpg"),
        "--style",
        "great_wave",
        "-o",
        str(tmp_path / "x.png"),
        "--address",
        "127.0.0.1:9",
    )
    assert result.returncode == 1  # a runtime error, not a usage error
    assert "UNAVAILABLE" in result.stderr and "stylize serve" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_predict_style_prints_a_vector(daemon_address: str, tmp_path: Path) -> None:
    result = run("predict-style", "great_wave", "--address", daemon_address)
    assert result.returncode == 0, result.stderr
    vector = json.loads(result.stdout)
    assert len(vector) == 100 and any(abs(v) > 0.1 for v in vector)
    out = tmp_path / "v.json"
    assert (
        run(
            "predict-style",
            str(STYLES / "great_wave.jpg"),
            "--address",
            daemon_address,
            "-o",
            str(out),
        ).returncode
        == 0
    )
    np.testing.assert_allclose(json.loads(out.read_text()), vector, atol=1e-5)


def test_named_style_library(tmp_path: Path) -> None:
    env = {"STYLIZE_DATA_DIR": str(tmp_path)}
    style = tmp_path / "mine.png"
    style.write_bytes(encode(sample_photo(64, 64)))
    assert (
        run("styles", "add", str(style), "--name", "my_style", "--local", env=env).returncode == 0
    )
    listed = run("styles", "list", "--local", env=env).stdout
    assert "my_style" in listed and "starry_night" in listed
    assert (tmp_path / "styles" / "my_style.png").is_file()
    assert run("styles", "remove", "my_style", env=env).returncode == 0
    assert "my_style" not in run("styles", "list", "--local", env=env).stdout
    missing = run("styles", "remove", "my_style", env=env)
    assert missing.returncode == 1 and "no user style" in missing.stderr
    bad = run("styles", "add", str(style), "--name", "../evil", "--local", env=env)
    assert bad.returncode == 1 and "not valid" in bad.stderr


def test_info_lists_models(daemon_address: str) -> None:
    result = run("info", "--address", daemon_address)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert {m["name"] for m in info["models"]} == {"style_predictor", "transformer", "vgg19"}


# -- conventions: files, weights, stdio, outputs, batches, JSON, completion -------------


def photo_file(tmp_path: Path, name: str = "photo.png", size: tuple[int, int] = (64, 48)) -> Path:
    path = tmp_path / name
    sample_photo(*size).save(path)
    return path


def test_a_missing_style_file_says_no_such_file(tmp_path: Path) -> None:
    done = run(
        "apply",
        str(photo_file(tmp_path)),
        "--style",
        "nope/painting.jpg",
        "-o",
        str(tmp_path / "o.png"),
        "--address",
        "127.0.0.1:9",
    )
    assert done.returncode == 1
    assert "no such file: nope/painting.jpg" in done.stderr and "unknown style" not in done.stderr


def test_a_bad_weight_is_a_usage_error(tmp_path: Path) -> None:
    done = run(
        "apply",
        str(photo_file(tmp_path)),
        "--style",
        "starry_night:lots",
        "-o",
        str(tmp_path / "o.png"),
        "--address",
        "127.0.0.1:9",
    )
    assert done.returncode == 2 and "'lots' is not a weight" in done.stderr


def test_an_unknown_output_extension_is_refused_before_the_job(tmp_path: Path) -> None:
    # No daemon listens at 127.0.0.1:9: a job that ran would fail with exit 1, not 2.
    done = run(
        "apply",
        str(photo_file(tmp_path)),
        "--style",
        "starry_night",
        "-o",
        str(tmp_path / "o.xyz"),
        "--address",
        "127.0.0.1:9",
    )
    assert done.returncode == 2 and "must end in one of .png" in done.stderr


def test_stdin_to_stdout(daemon_address: str, tmp_path: Path) -> None:
    photo = photo_file(tmp_path).read_bytes()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stylize",
            "apply",
            "-",
            "--style",
            "starry_night",
            "-o",
            "-",
            "--address",
            daemon_address,
            "--quiet",
        ],
        input=photo,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = Image.open(io.BytesIO(done.stdout))
    assert (out.format, out.size) == ("PNG", (64, 48))


def test_batch_each_style_with_json_and_one_bar(daemon_address: str, tmp_path: Path) -> None:
    photo_file(tmp_path, "a.png")
    photo_file(tmp_path, "b.png", (48, 40))
    done = run(
        "apply",
        str(tmp_path / "*.png"),
        "--style",
        "starry_night",
        "--style",
        "great_wave",
        "--each-style",
        "-o",
        str(tmp_path / "out") + "/",
        "--json",
        "--max-side",
        "32",
        "--address",
        daemon_address,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    names = sorted(Path(r["output"]).name for r in records)
    assert names == [
        "a-great_wave.png",
        "a-starry_night.png",
        "b-great_wave.png",
        "b-starry_night.png",
    ]
    assert all(Image.open(r["output"]).size in ((64, 48), (48, 40)) for r in records)
    assert all(r["seconds"] > 0 and len(r["styles"]) == 1 for r in records)
    progress = [line for line in done.stderr.splitlines() if "%" in line]
    fractions = [int(line.split("%")[0]) for line in progress]
    assert fractions == sorted(fractions) and "[4/4] b.png" in done.stderr
    assert "painting at 32x24 (scaled from 64x48)" in done.stderr


def test_several_results_need_a_folder_or_template(tmp_path: Path) -> None:
    done = run(
        "apply",
        str(photo_file(tmp_path)),
        "--style",
        "starry_night",
        "--style",
        "great_wave",
        "--each-style",
        "-o",
        str(tmp_path / "one.png"),
    )
    assert done.returncode == 2 and "writes several" in done.stderr


def test_shell_completion() -> None:
    done = run("completion", "bash")
    assert done.returncode == 0 and "apply" in done.stdout and "--each-style" in done.stdout


@pytest.mark.slow
def test_daemon_killed_mid_job_is_reported_as_such(tmp_path: Path) -> None:
    from conftest import start_daemon

    daemon = start_daemon(tmp_path / "daemon.log")
    photo = tmp_path / "big.png"
    sample_photo(1600, 1200).save(photo)
    cli = subprocess.Popen(
        [sys.executable, "-m", "stylize", "apply", str(photo), "--style", "starry_night", "-o",
         str(tmp_path / "out.png"), "--address", daemon.address],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert cli.stderr is not None
        for line in cli.stderr:  # progress lines (not a terminal: one per message)
            if "painting at" in line:
                daemon.process.kill()
                break
        err = cli.stderr.read()
        assert cli.wait(60) == 1
    finally:
        daemon.process.kill()
        cli.kill()
    port = daemon.address.rpartition(":")[2]
    assert "stopped during the job" in err and f"stylize serve --port {port}" in err
    assert not (tmp_path / "out.png").exists()
