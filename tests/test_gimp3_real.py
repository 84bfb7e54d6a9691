"""Real GIMP 3.0.4, headless, in a Debian trixie chroot (tests/gimp3/chroot.sh).

The plug-in is installed with `stylize gimp install --dir ... --python <chroot venv>`,
the daemon runs on the host's loopback (shared with the chroot), and
tests/gimp3/batch_stylize.py calls python-fu-stylize non-interactively on a real photo:
with a selection inside a layer group, with alpha, on a grayscale image, and with no
daemon listening. One GIMP start runs all cases (≈ 5 s once the chroot exists; building
it is a one-time ≈ 1-2 min, cached under ~/.cache/stylize/gimp3-chroot).

Undo: libgimp cannot count undo steps, so the test checks what it can see: on failure
the image stays clean (any undo push would dirty it); on success the image is dirty,
the plug-in left no undo group open, and the fakes (test_gimp2_plugin) prove the
one-group structure of the same core flow.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES, STYLES, process_gone, wait_for
from stylize.client import bridge

pytestmark = pytest.mark.gimp3

HARNESS = REPO / "tests" / "gimp3" / "chroot.sh"
BATCH = REPO / "tests" / "gimp3" / "batch_stylize.py"
VENV_PYTHON = "/opt/stylize-venv/bin/python"
CASES = (
    *("selection", "alpha", "gray", "colors", "palette", "indexed", "missing", "opacity"),
    *("strokes", "fullres", "preview", "down", "gallery", "inplace", "inplace_down", "blend"),
    *("deep16", "float32", "optimize", "animation"),
    *("regions_alone", "regions_split", "regions_channel", "regions_layermask"),
    *("regions_strength", "regions_empty", "regions_preview"),
)


# the pure-Python part of our package the bridge needs (no numpy, no TensorFlow)
def bridge_files() -> list[str]:
    """The package's files the bridge imports (it runs in the chroot's own venv, with only
    grpcio and protobuf installed): found by importing it, so a new import is never missed."""
    probe = (
        "import sys, stylize.client.bridge, stylize.client.library, stylize.client.user_messages;"
        "import stylize, pathlib; root = pathlib.Path(stylize.__file__).parent;"
        "print('\\n'.join(sorted(str(pathlib.Path(m.__file__).relative_to(root)) "
        "for n, m in sys.modules.items()"
        " if n.startswith('stylize') and getattr(m, '__file__', None))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def harness(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(HARNESS), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def chroot() -> Path:
    """Build (once) or reuse the chroot; skip, saying why, where that is impossible."""
    if shutil.which("chroot") is None or sys.platform != "linux":
        pytest.skip("GIMP 3 chroot needs Linux with chroot(8)")
    done = harness("build", timeout=1200)
    if done.returncode == 2:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "unknown"
        print(f"\nSKIP real GIMP 3 test: {reason}", file=sys.stderr)
        pytest.skip(f"real GIMP 3 unavailable: {reason}")
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(harness("path", timeout=60).stdout.strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_package_into_venv(root: Path) -> None:
    """Copy the bridge's pure-Python files into the chroot and put them on the venv's path."""
    dest = root / "opt" / "stylize-src"
    if dest.exists():
        shutil.rmtree(dest)
    for name in bridge_files():
        target = dest / "stylize" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / "daemon" / "stylize" / name, target)
    (site,) = (root / "opt" / "stylize-venv" / "lib").glob("python3*/site-packages")
    (site / "stylize-src.pth").write_text("/opt/stylize-src\n")


def install_plugin(root: Path, address: str) -> Path:
    plugins = root / "root" / ".config" / "GIMP" / "3.0" / "plug-ins"
    if plugins.exists():
        shutil.rmtree(plugins)  # only our plug-in
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stylize",
            "gimp",
            "install",
            "--gimp",
            "3",
            "--dir",
            str(plugins),
            "--python",
            VENV_PYTHON,
            "--address",
            address,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return plugins


@pytest.fixture(scope="module")
def installed(chroot: Path, daemon_address: str) -> dict:
    """The plug-in and the bridge installed in the chroot; the batch's spec, less its cases."""
    install_package_into_venv(chroot)
    check = subprocess.run(
        ["chroot", str(chroot), VENV_PYTHON, "-m", "stylize.client.bridge", "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, f"bridge cannot run in the chroot venv: {check.stderr}"
    install_plugin(chroot, "127.0.0.1:1")  # the batch passes the address per case
    job = chroot / "job"
    job.mkdir(exist_ok=True)
    shutil.copy2(SAMPLES / "astronaut.jpg", job / "astronaut.jpg")
    shutil.copy2(STYLES / "starry_night.jpg", job / "starry_night.jpg")
    shutil.copy2(STYLES / "great_wave.jpg", job / "great_wave.jpg")
    return {
        "address": daemon_address,
        "down_address": f"127.0.0.1:{free_port()}",
        "photo": "/job/astronaut.jpg",
        "style": "/job/starry_night.jpg",
        "style2": "/job/great_wave.jpg",
        "gallery_pick": "great_wave",
        "plugin_dir": "/root/.config/GIMP/3.0/plug-ins/stylize-neural-style",
    }


@pytest.fixture(scope="module")
def gimp_run(chroot: Path, installed: dict, tmp_path_factory) -> Path:
    """Run all cases in one GIMP start; return the folder with what the batch wrote."""
    (chroot / "job" / "spec.json").write_text(json.dumps({**installed, "cases": list(CASES)}))
    out = tmp_path_factory.mktemp("gimp3-out")
    done = harness("run", str(BATCH), str(out), timeout=400)
    (out / "gimp.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return out


def report(out: Path, case: str) -> dict:
    path = out / f"{case}.json"
    assert path.exists(), (out / "gimp.log").read_text()[-4000:]
    return json.loads(path.read_text())


def blob(out: Path, case: str, what: str) -> bytes:
    return (out / f"{case}.{what}.bin").read_bytes()


def mean_diff(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def crop(data: bytes, width: int, bpp: int, x: int, y: int, w: int, h: int) -> bytes:
    return b"".join(
        data[((y + r) * width + x) * bpp : ((y + r) * width + x + w) * bpp] for r in range(h)
    )


def assert_new_layer_above_source(rep: dict, options: str = "starry_night") -> dict:
    names = [layer["name"] for layer in rep["layers"]]
    before = [layer["name"] for layer in rep["layers_before"]]
    assert len(names) == len(before) + 1
    source = rep["layers_before"][-1]["name"]  # the photo is the bottom layer
    index = names.index(source)
    new = rep["layers"][index - 1]
    assert new["name"] == f"{source} ({options})"
    assert new["parent"] == rep["layers"][index]["parent"]
    assert rep["status"] == "success" and rep["dirty"] and not rep["undo_group_open"]
    return new


def test_selection_in_a_group(gimp_run: Path) -> None:
    rep = report(gimp_run, "selection")
    new = assert_new_layer_above_source(rep)
    assert new["parent"] == "Group"
    assert (new["width"], new["height"], new["offsets"]) == (40, 30, [20, 16])
    assert new["has_mask"]
    assert set(blob(gimp_run, "selection", "mask")) == {255}
    before = blob(gimp_run, "selection", "source_before")
    assert blob(gimp_run, "selection", "source_after") == before  # bit-identical
    # selection (20,16) in the image = (10,10) in the layer at offsets (10,6)
    region = crop(before, 96, 3, 10, 10, 40, 30)
    assert mean_diff(blob(gimp_run, "selection", "result"), region) > 20


def test_alpha_is_kept(gimp_run: Path) -> None:
    rep = report(gimp_run, "alpha")
    new = assert_new_layer_above_source(rep)
    assert (new["width"], new["height"], new["offsets"], new["has_alpha"]) == (96, 64, [0, 0], True)
    assert not new["has_mask"]
    before, result = blob(gimp_run, "alpha", "source_before"), blob(gimp_run, "alpha", "result")
    assert blob(gimp_run, "alpha", "source_after") == before
    assert result[3::4] == before[3::4]  # alpha passes through
    assert len(set(before[3::4])) > 100  # ... and it really varied
    opaque = [i for i in range(0, len(before), 4) if before[i + 3] > 128]
    assert mean_diff(bytes(result[i] for i in opaque), bytes(before[i] for i in opaque)) > 20


def test_grayscale_stays_grayscale(gimp_run: Path) -> None:
    rep = report(gimp_run, "gray")
    new = assert_new_layer_above_source(rep)
    assert (new["width"], new["height"], new["offsets"]) == (96, 64, [0, 0])
    before, result = blob(gimp_run, "gray", "source_before"), blob(gimp_run, "gray", "result")
    assert len(result) == 96 * 64  # read back as Y' u8 from a GRAY layer
    assert blob(gimp_run, "gray", "source_after") == before
    assert mean_diff(result, before) > 15
    assert (gimp_run / "gray.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_daemon_not_running_leaves_the_image_alone(gimp_run: Path) -> None:
    rep = report(gimp_run, "down")
    assert rep["status"] == "execution-error"
    assert "Cannot reach the Stylize daemon" in rep["message"]
    assert "stylize serve --port" in rep["message"]
    assert rep["layers"] == rep["layers_before"]
    assert not rep["dirty"]  # nothing was pushed on the undo stack
    assert blob(gimp_run, "down", "source_after") == blob(gimp_run, "down", "source_before")


def assert_refused_untouched(rep: dict, words: str) -> None:
    assert rep["status"] == "execution-error", rep
    assert words in rep["message"]
    assert rep["layers"] == rep["layers_before"] and not rep["dirty"]


def test_indexed_image_from_a_script_is_refused(gimp_run: Path) -> None:
    rep = report(gimp_run, "indexed")
    assert_refused_untouched(rep, "Indexed images are not supported")
    assert blob(gimp_run, "indexed", "source_after") == blob(gimp_run, "indexed", "source_before")


def test_missing_style_file_from_a_script_leaves_the_image_alone(gimp_run: Path) -> None:
    """GIMP 3 validates a file argument itself (OPEN action) before the plug-in runs: the
    script gets GIMP's calling error. The ANY action, which would let our message through,
    breaks the dialog's file chooser in GIMP 3.0.4, so we keep OPEN (gimp_plugin/README)."""
    rep = report(gimp_run, "missing")
    assert rep["status"] == "calling-error", rep
    assert rep["layers"] == rep["layers_before"] and not rep["dirty"]
    assert blob(gimp_run, "missing", "source_after") == blob(gimp_run, "missing", "source_before")


def test_opacity_and_a_name_that_records_the_options(gimp_run: Path) -> None:
    rep = report(gimp_run, "opacity")
    new = assert_new_layer_above_source(rep, "starry_night, strength 0.6")
    assert new["opacity"] == pytest.approx(40.0)


def test_live_preview_renders_a_small_version_through_the_daemon(gimp_run: Path) -> None:
    rep = report(gimp_run, "preview")
    assert rep["status"] == "success"
    assert (rep["width"], rep["height"]) == (320, 213)  # 3000x2000 read at 320 px by GEGL
    small, result = blob(gimp_run, "preview", "small"), blob(gimp_run, "preview", "result")
    assert len(small) == len(result) == 320 * 213 * 4
    assert result[3::4] == small[3::4]  # alpha passes through
    assert mean_diff(result[0::4], small[0::4]) > 10  # painted, not the photo
    # the second render (a slider moved) reuses the dialog's one bridge session
    assert rep["same_size_again"] and rep["changed_by_the_slider"] and rep["bridge_pid"]


def test_style_palette_colour_matching(gimp_run: Path) -> None:
    import numpy as np
    from PIL import Image
    from stylize.engine import colour_transfer

    rep = report(gimp_run, "palette")
    assert_new_layer_above_source(rep, "starry_night, take the style's palette")
    result = blob(gimp_run, "palette", "result")
    plain = blob(gimp_run, "colors", "source_before")  # the same photo, unstylized

    def lab_mean(rgb: np.ndarray) -> np.ndarray:
        return colour_transfer.to_lab(np.ascontiguousarray(rgb)).reshape(-1, 3).mean(axis=0)

    painting = lab_mean(np.asarray(Image.open(STYLES / "starry_night.jpg").convert("RGB")))
    out = lab_mean(np.frombuffer(result, np.uint8).reshape(64, 96, 3))
    photo = lab_mean(np.frombuffer(plain, np.uint8).reshape(64, 96, 3))
    assert np.linalg.norm(out - painting) < 3.0 < np.linalg.norm(photo - painting)


def test_keep_colours_keeps_the_layers_chroma(gimp_run: Path) -> None:
    from PIL import Image

    rep = report(gimp_run, "colors")
    assert_new_layer_above_source(rep, "starry_night, keep colours")
    before, result = blob(gimp_run, "colors", "source_before"), blob(gimp_run, "colors", "result")

    def chroma(data: bytes) -> bytes:
        ycbcr = Image.frombytes("RGB", (96, 64), data).convert("YCbCr").tobytes()
        return ycbcr[1::3] + ycbcr[2::3]

    assert mean_diff(result, before) > 10  # stylized luminance
    assert mean_diff(chroma(result), chroma(before)) < 3  # the layer's own colours


def test_a_style_picked_from_the_gallery_data(gimp_run: Path) -> None:
    listing = json.loads((gimp_run / "gallery.gallery.json").read_text())
    bundled = ["dance_foyer", "great_wave", "shipwreck", "starry_night"]
    assert set(bundled) <= set(listing["names"]) and listing["names"] == sorted(listing["names"])
    assert listing["origins"][listing["names"].index("great_wave")] == "bundled"
    assert len(listing["pixbufs"]) == len(listing["names"])  # GdkPixbuf read every JPEG
    for name in bundled:  # other tests add small user styles: thumbnails never enlarge
        assert max(listing["pixbufs"][listing["names"].index(name)]) == 96
    rep = report(gimp_run, "gallery")
    new = assert_new_layer_above_source(rep, "great_wave")
    assert (new["width"], new["height"], new["mode"]) == (96, 64, "normal")
    before, result = blob(gimp_run, "gallery", "source_before"), blob(gimp_run, "gallery", "result")
    assert mean_diff(result, before) > 20


def test_in_place_output_repaints_only_the_selection(gimp_run: Path) -> None:
    rep = report(gimp_run, "inplace")
    assert rep["status"] == "success" and rep["dirty"] and not rep["undo_group_open"]
    assert rep["layers"] == rep["layers_before"]  # no new layer; name, size, place kept
    before, after = blob(gimp_run, "inplace", "source_before"), blob(gimp_run, "inplace", "result")
    box = (20, 16, 40, 30)  # the selection; the layer is the whole 96x64 image
    inside_before, inside_after = crop(before, 96, 3, *box), crop(after, 96, 3, *box)
    assert mean_diff(inside_after, inside_before) > 20  # painted inside the selection
    outside = [i for i in range(96 * 64) if not (20 <= i % 96 < 60 and 16 <= i // 96 < 46)]
    assert all(after[3 * i : 3 * i + 3] == before[3 * i : 3 * i + 3] for i in outside)


def test_in_place_failure_leaves_the_image_alone(gimp_run: Path) -> None:
    rep = report(gimp_run, "inplace_down")
    assert_refused_untouched(rep, "Cannot reach the Stylize daemon")
    after = blob(gimp_run, "inplace_down", "source_after")
    assert after == blob(gimp_run, "inplace_down", "source_before")


def test_blend_mode_of_the_new_layer(gimp_run: Path) -> None:
    rep = report(gimp_run, "blend")
    new = assert_new_layer_above_source(rep)
    assert (new["mode"], new["opacity"]) == ("softlight", pytest.approx(100.0))


def test_stroke_scale_paints_at_a_working_size_and_comes_back_full_size(gimp_run: Path) -> None:
    """Stroke size 16 on a 96x64 layer: the daemon paints 64x43 and upsamples; the
    far left of the slider (1/64) paints at the layer's own size."""
    big = assert_new_layer_above_source(report(gimp_run, "strokes"), "starry_night, strokes x16")
    full = assert_new_layer_above_source(
        report(gimp_run, "fullres"), "starry_night, full resolution"
    )
    assert (big["width"], big["height"]) == (full["width"], full["height"]) == (96, 64)
    photo = blob(gimp_run, "strokes", "source_before")
    assert blob(gimp_run, "fullres", "source_before") == photo
    large, fine = blob(gimp_run, "strokes", "result"), blob(gimp_run, "fullres", "result")
    assert mean_diff(large, photo) > 15 and mean_diff(fine, photo) > 15  # both painted
    assert mean_diff(large, fine) > 10  # ... differently: the stroke scale reached the daemon


def test_sixteen_bit_image_gets_a_sixteen_bit_result(gimp_run: Path) -> None:
    """Read as u16 and written as u16: the network's float output, not 8-bit levels."""
    import numpy as np

    rep = report(gimp_run, "deep16")
    new = assert_new_layer_above_source(rep)
    assert rep["precision"] == "u16-non-linear" and (new["width"], new["height"]) == (96, 64)
    source = np.frombuffer(blob(gimp_run, "deep16", "source_before"), "<u2")
    assert np.all(source % 257 == 0)  # the photo came from an 8-bit JPEG: k * 257 exactly
    result = np.frombuffer(blob(gimp_run, "deep16", "result"), "<u2")
    assert result.size == 96 * 64 * 3
    assert np.mean(result % 257 != 0) > 0.9  # not quantised to 8 bits
    assert np.abs(result / 65535.0 - source / 65535.0).mean() > 0.08  # and painted


def test_float_image_gets_a_float_result(gimp_run: Path) -> None:
    import numpy as np

    rep = report(gimp_run, "float32")
    assert_new_layer_above_source(rep)
    assert rep["precision"] == "float-linear"
    result = np.frombuffer(blob(gimp_run, "float32", "result"), "<f4") * 255.0
    assert np.mean(np.abs(result - np.rint(result)) > 0.01) > 0.9  # off the 8-bit grid


def test_best_quality_adds_its_steps_in_a_hidden_group_below_the_result(gimp_run: Path) -> None:
    rep = report(gimp_run, "optimize")
    assert rep["status"] == "success" and rep["dirty"] and not rep["undo_group_open"], rep
    names = [layer["name"] for layer in rep["layers"]]
    source = rep["layers_before"][-1]["name"]
    result, group, *steps, photo = rep["layers"]
    assert result["name"] == f"{source} (starry_night, draft quality)" and result["visible"]
    assert group["name"] == f"{source}: intermediate results" and group["is_group"]
    assert not group["visible"]  # the picture looks as it would without the steps
    total = bridge.PRESETS["draft"].iterations
    every = total // 3  # two steps, spread before the last iteration
    assert [s["name"] for s in steps] == [
        f"{source}: iteration {2 * every} of {total}",  # latest on top
        f"{source}: iteration {every} of {total}",
    ], names
    assert all(s["parent"] == group["name"] for s in steps)
    assert all((s["width"], s["height"], s["offsets"]) == (96, 64, [0, 0]) for s in steps)
    assert photo["name"] == source and len(rep["layers"]) == len(rep["layers_before"]) + 4
    before = blob(gimp_run, "optimize", "source_before")
    assert blob(gimp_run, "optimize", "source_after") == before
    final = blob(gimp_run, "optimize", "result")
    latest, earliest = blob(gimp_run, "optimize", "step0"), blob(gimp_run, "optimize", "step1")
    assert len(latest) == len(earliest) == len(final) == len(before)  # RGB, the layer's size
    assert mean_diff(earliest, before) > 1 and len({earliest, latest, final}) == 3  # emerging


def test_an_animation_becomes_a_new_image_of_stylized_frames(gimp_run: Path) -> None:
    """Three layers as frames (bottom first, as GIMP plays them) stylized as one sequence:
    a new image with the frames' names (timings) and geometry; the source untouched."""
    rep = report(gimp_run, "animation")
    assert rep["status"] == "success", rep
    assert rep["layers"] == rep["layers_before"] and not rep["dirty"]  # source untouched
    names = ["Frame 3 (300ms)", "Frame 2 (200ms)", "Frame 1 (100ms)"]  # top to bottom
    assert [layer["name"] for layer in rep["layers"]] == names
    assert [layer["name"] for layer in rep["new_layers"]] == names
    assert rep["new_size"] == [48, 32] and rep["new_undo_enabled"]
    assert all(
        (layer["width"], layer["height"], layer["offsets"], layer["parent"])
        == (48, 32, [0, 0], None)
        for layer in rep["new_layers"]
    )
    for index in range(3):
        before = blob(gimp_run, "animation", f"frame{index}_before")
        assert blob(gimp_run, "animation", f"frame{index}_after") == before
        result = blob(gimp_run, "animation", f"frame{index}_result")
        assert len(result) == len(before) == 48 * 32 * 3 and mean_diff(result, before) > 10
    first, second = (blob(gimp_run, "animation", f"frame{i}_before") for i in (0, 1))
    assert first != second  # the frames really differ (the photo pans)


# --- regions: where each style paints, read from GIMP ---------------------------------


def halves(data: bytes, width: int, height: int, bpp: int, margin: int) -> tuple:
    """(left, right) halves of a picture as arrays, `margin` px away from the middle."""
    import numpy as np

    picture = np.frombuffer(data, np.uint8).reshape(height, width, bpp).astype(float)
    return picture[:, : width // 2 - margin], picture[:, width // 2 + margin :]


def nearer(
    result: bytes, near: bytes, far: bytes, size=(96, 64, 3), margin=8, ratio=2.0
) -> list[bool]:
    """Per half: whether `result` is nearer `near`'s half than `far`'s (by `ratio`)."""
    import numpy as np

    out = []
    for got, a, b in zip(*(halves(d, *size, margin) for d in (result, near, far)), strict=True):
        out.append(bool(np.abs(got - a).mean() * ratio < np.abs(got - b).mean()))
    return out


def regions_result(gimp_run: Path, case: str) -> bytes:
    rep = report(gimp_run, case)
    assert rep["status"] == "success", rep["message"]
    assert (rep["result"]["width"], rep["result"]["height"]) == (96, 64)  # the whole layer
    assert rep["result"]["offsets"] == [10, 6] and not rep["result"]["has_mask"]
    assert rep["dirty"] and not rep["undo_group_open"]
    return blob(gimp_run, case, "result")


def test_style_a_inside_the_selection_style_b_outside(gimp_run: Path) -> None:
    """The left half (selected) is painted like style A alone, the right like B alone;
    the same from two saved channels (cropped to the layer at its offsets)."""
    alone_a, alone_b = (blob(gimp_run, "regions_alone", w) for w in ("alone_a", "alone_b"))
    for case in ("regions_split", "regions_channel"):
        result = regions_result(gimp_run, case)
        left, right = nearer(result, alone_a, alone_b), nearer(result, alone_b, alone_a)
        assert (left[0], right[1]) == (True, True), case


def test_a_layer_mask_region_and_a_strength_map_from_a_channel(gimp_run: Path) -> None:
    """Style A in the layer mask (left half white), B everywhere: the right half is B
    alone; a strength map white on the left: the left is A alone, the right is not."""
    import numpy as np

    alone_a, alone_b = (blob(gimp_run, "regions_alone", w) for w in ("alone_a", "alone_b"))
    masked = regions_result(gimp_run, "regions_layermask")
    (left, right), (b_left, b_right) = halves(masked, 96, 64, 3, 8), halves(alone_b, 96, 64, 3, 8)
    assert np.abs(right - b_right).mean() * 3 < np.abs(left - b_left).mean()
    strength = regions_result(gimp_run, "regions_strength")
    (left, right), (a_left, a_right) = halves(strength, 96, 64, 3, 8), halves(alone_a, 96, 64, 3, 8)
    assert np.abs(left - a_left).mean() * 2 < np.abs(right - a_right).mean()


def test_inside_an_empty_selection_is_refused_and_the_image_left_alone(gimp_run: Path) -> None:
    rep = report(gimp_run, "regions_empty")
    assert rep["status"] == "execution-error" and "nothing is selected" in rep["message"]
    assert not rep["dirty"] and rep["layers"] == rep["layers_before"]


def test_the_live_preview_shows_the_regions(gimp_run: Path) -> None:
    rep = report(gimp_run, "regions_preview")
    assert rep["result"] == rep["alone_a"] == [320, 213]
    result, alone_a, alone_b = (blob(gimp_run, "regions_preview", w) for w in
                                ("result", "alone_a", "alone_b"))  # fmt: skip
    size = (320, 213, 4)  # measured: left 33 from A, 48 from B; right 36 from B, 47 from A
    assert nearer(result, alone_a, alone_b, size, 20, ratio=1.2)[0]
    assert nearer(result, alone_b, alone_a, size, 20, ratio=1.2)[1]


DIALOG_BATCH = REPO / "tests" / "gimp3" / "batch_dialog.py"


@pytest.fixture(scope="module")
def dialog_report(chroot: Path, installed: dict, tmp_path_factory) -> dict:
    """The plug-in's dialogs built (not run) in real GIMP 3 on Xvfb, measured."""
    (chroot / "job" / "spec.json").write_text(json.dumps({**installed, "cases": []}))
    out = tmp_path_factory.mktemp("gimp3-dialog")
    done = harness("run", str(DIALOG_BATCH), str(out), timeout=400)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    rep = json.loads((out / "dialog.json").read_text())
    if "skip" in rep:
        pytest.skip(rep["skip"])
    assert "error" not in rep, rep["error"]
    return rep


def test_the_dialog_fits_a_1080p_screen_and_keeps_its_size(dialog_report: dict) -> None:
    rep = dialog_report
    natural_height = rep["first"][1]
    assert natural_height < 900, rep
    assert rep["animation"][1] < 900, rep
    assert rep["tiles"] >= 4 and rep["preview"], rep  # the gallery loaded, the preview painted
    stable = [rep["first"], rep["gallery_loaded"], rep["preview_shown"], rep["after_pick"]]
    assert all(s[:2] == rep["first"][:2] for s in stable + rep["tabs"]), rep  # heights
    assert rep["picked"] == [installed_pick(), True]  # the file chooser shows no other file


def installed_pick() -> str:
    return "great_wave"


def test_the_dialog_greys_out_what_does_nothing(dialog_report: dict) -> None:
    default = dialog_report["sensitive_default"]
    assert default["strength"] and default["opacity"] and default["blend-mode"]
    assert not any(default[n] for n in ("preset", "balance", "keep-steps", "weight-2", "style-3"))
    in_place = dialog_report["sensitive_in_place_optimize"]
    assert not (in_place["opacity"] or in_place["blend-mode"] or in_place["keep-steps"])
    assert in_place["preset"] and in_place["balance"] and not in_place["strength"]
    second = dialog_report["sensitive_second_style"]
    assert second["weight-2"] and second["style-3"] and not second["weight-3"]
    assert not default["region-2"] and second["region-2"]  # a region once the style is chosen
    assert not second["region-channel-1"]  # the channel only with "In a channel"


def test_style_a_inside_b_outside_is_one_click_in_the_dialog(dialog_report: dict) -> None:
    rep = dialog_report
    assert not rep["split_without_selection"] and rep["split_with_selection"]
    assert rep["after_split"] == ["inside", "outside"]
    assert rep["split_preview"].startswith("Preview ("), rep["split_preview"]


def _descendant(root: int, words: str) -> int | None:
    """The pid of a process started (indirectly) by `root` whose command line has `words`."""
    import psutil

    for process in psutil.Process(root).children(recursive=True):
        try:
            if words in " ".join(process.cmdline()):
                return process.pid
        except psutil.Error:
            continue  # gone meanwhile
    return None


def _in_flight(daemon) -> float:
    from conftest import scrape_metrics

    samples = scrape_metrics(daemon)
    key = ("stylize_requests_in_flight", (("method", "stylize.v1.StyleTransfer/Stylize"),))
    return samples.get(key, 0.0)


@pytest.fixture(scope="module")
def cancelled_run(installed: dict, chroot: Path, daemon_process, tmp_path_factory) -> dict:
    """A Best quality run whose plug-in process is killed mid-job, as GIMP does when the
    user cancels its progress (gimp_plug_in_close: GP_QUIT, then SIGKILL)."""
    import signal
    import time

    (chroot / "job" / "spec.json").write_text(json.dumps({**installed, "cases": ["cancel"]}))
    out = tmp_path_factory.mktemp("gimp3-cancel")
    since = len(daemon_process.log())
    harness_run = subprocess.Popen(
        ["bash", str(HARNESS), "run", str(BATCH), str(out)], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 600  # the chroot may be busy with another run
    plugin = bridge_pid = None
    while bridge_pid is None and time.monotonic() < deadline and harness_run.poll() is None:
        plugin = _descendant(harness_run.pid, "stylize-neural-style.py")
        bridge_pid = plugin and _descendant(plugin, "stylize.client.bridge")
        time.sleep(0.2)
    if not (plugin and bridge_pid):
        harness_run.kill()
        log = harness_run.communicate()[0]
        pytest.fail(
            f"the plug-in never started its bridge (harness: {harness_run.returncode})"
            f"\n{log[-3000:]}"
        )
    while _in_flight(daemon_process) < 1:
        assert time.monotonic() < deadline and harness_run.poll() is None, "no Stylize call"
        time.sleep(0.2)
    time.sleep(3)  # into the optimisation (400 iterations: minutes)
    os.kill(plugin, signal.SIGKILL)
    log, _ = harness_run.communicate(timeout=300)
    (out / "gimp.log").write_text(log)
    assert harness_run.returncode == 0, log[-4000:]
    wait_for(lambda: "job stopped" in daemon_process.log()[since:])
    return {"out": out, "daemon_log": daemon_process.log()[since:], "bridge": bridge_pid}


def test_cancelling_best_quality_stops_the_daemon_and_leaves_the_image(cancelled_run) -> None:
    out, log = cancelled_run["out"], cancelled_run["daemon_log"]
    rep = report(out, "cancel")
    assert rep["status"] != "success", rep
    assert rep["layers"] == rep["layers_before"] and not rep["dirty"]
    assert blob(out, "cancel", "source_after") == blob(out, "cancel", "source_before")
    assert "job stopped" in log and "cancelled by the client" in log, log[-3000:]
    assert "stylize done method=optimize" not in log
    assert wait_for(lambda: process_gone(cancelled_run["bridge"]))  # nor did the bridge
