"""The plug-in's shared core (gimp_plugin/stylize_gimp): request validation, geometry,
settings, and the bridge process handling, against small fake bridges."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "gimp_plugin"))
from stylize_gimp import core, protocol

RGBA = core.PixelFormat(False, True)


# --- Python 2.7 compatibility --------------------------------------------------------


def test_core_and_gimp2_entry_stay_python27_compatible() -> None:
    files = [REPO / "gimp_plugin" / "stylize_gimp", REPO / "gimp_plugin" / "gimp2"]
    vermin = Path(sys.executable).with_name("vermin")
    done = subprocess.run(
        [
            str(vermin),
            "-t=2.7-",
            "--no-tips",
            "--violations",
            "--eval-annotations",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- requests, geometry, names ---------------------------------------------------------


def test_make_request_keeps_only_chosen_styles() -> None:
    request = core.make_request(0.5, " 127.0.0.1:7 ", [("a.jpg", 1.0), ("", 1.0), ("c.png", 0.3)])
    assert request.styles == [("a.jpg", 1.0), ("c.png", 0.3)]
    assert (request.strength, request.address) == (0.5, "127.0.0.1:7")
    assert core.make_request(1, "", [("a.jpg", 1.0), ("b.jpg", 0.0)]).styles == [("a.jpg", 1.0)]


@pytest.mark.parametrize(
    ("strength", "styles", "error"),
    [
        (1.0, [("", 1.0)], "Choose a style image"),
        (1.0, [], "Choose a style image"),
        (1.5, [("a.jpg", 1.0)], "between 0 and 1"),
        (-0.1, [("a.jpg", 1.0)], "between 0 and 1"),
        (1.0, [("a.jpg", -1.0)], "must be between 0 and 10"),
    ],
)
def test_make_request_rejects_bad_parameters(strength, styles, error) -> None:
    with pytest.raises(core.StylizeError, match=error):
        core.make_request(strength, "", styles)


@pytest.mark.parametrize("scale", [0.0, -1.0, 1 / 65, 16.5, float("nan")])
def test_make_request_rejects_bad_stroke_scales(scale: float) -> None:
    with pytest.raises(core.StylizeError, match="Stroke size must be between"):
        core.make_request(1.0, "", [("a.jpg", 1.0)], stroke_scale=scale)


def test_stroke_scale_in_the_header_the_name_and_the_preview(tmp_path: Path) -> None:
    request = core.make_request(1.0, "", [(style_file(tmp_path), 1.0)], stroke_scale=2.5)
    header, _ = core.build_request(b"\0" * 12, 2, 2, core.PixelFormat(False, False), request,
                                   core.load_settings(str(tmp_path / "none.json")))  # fmt: skip
    assert header["stroke_scale"] == 2.5
    assert core.layer_name("Photo", request).endswith("strokes x2.5)")
    # a preview at a tenth of the size paints a tenth as many pixels: strokes as large
    assert core.preview_request(request, 0.1).stroke_scale == pytest.approx(16.0)  # capped
    assert core.preview_request(request, 0.25).stroke_scale == pytest.approx(10.0)
    assert request.stroke_scale == 2.5  # the dialog's request is left as it was


def test_plan_region_maps_the_selection_box_to_image_coordinates() -> None:
    region = core.plan_region((10, 6), (10, 10, 40, 30), True)
    assert (region.x, region.y, region.width, region.height) == (10, 10, 40, 30)
    assert (region.image_x, region.image_y, region.masked) == (20, 16, True)
    whole = core.plan_region((-5, 3), (0, 0, 96, 64), False)
    assert (whole.image_x, whole.image_y, whole.masked) == (-5, 3, False)


@pytest.mark.parametrize("intersection", [None, (0, 0, 0, 5), (0, 0, 5, 0)])
def test_plan_region_refuses_a_selection_that_misses_the_layer(intersection) -> None:
    with pytest.raises(core.StylizeError, match="does not overlap"):
        core.plan_region((0, 0), intersection, True)


def test_layer_name_lists_the_styles() -> None:
    request = core.make_request(1, "", [("/x/starry_night.jpg", 1), ("/y/great wave.png", 0.5)])
    assert core.layer_name("Background", request) == "Background (starry_night + great wave)"


@pytest.mark.parametrize(
    ("gray", "alpha", "name", "bpp", "babl"),
    [
        (False, False, "RGB8", 3, "R'G'B' u8"),
        (False, True, "RGBA8", 4, "R'G'B'A u8"),
        (True, False, "GRAY8", 1, "Y' u8"),
        (True, True, "GRAYA8", 2, "Y'A u8"),
    ],
)
def test_pixel_formats(gray, alpha, name, bpp, babl) -> None:
    fmt = core.PixelFormat(gray, alpha)
    assert (fmt.name, fmt.bpp, fmt.babl) == (name, bpp, babl)


# --- settings ---------------------------------------------------------------------------


def test_settings_default_without_config(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("STYLIZE_BRIDGE_PYTHON", raising=False)
    settings = core.load_settings(str(tmp_path / "missing.json"))
    assert settings["address"] == core.DEFAULT_ADDRESS and settings["python"] == "python3"


def test_settings_from_config_and_env(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / core.CONFIG_FILE
    path.write_text(json.dumps({"python": "/venv/bin/python", "address": "10.0.0.2:7"}))
    monkeypatch.delenv("STYLIZE_BRIDGE_PYTHON", raising=False)
    assert core.load_settings(str(path))["python"] == "/venv/bin/python"
    monkeypatch.setenv("STYLIZE_BRIDGE_PYTHON", "/other/python")
    settings = core.load_settings(str(path))
    assert (settings["python"], settings["address"]) == ("/other/python", "10.0.0.2:7")


def test_broken_config_says_how_to_fix_it(tmp_path: Path) -> None:
    path = tmp_path / core.CONFIG_FILE
    path.write_text("{not json")
    with pytest.raises(core.StylizeError, match="stylize gimp install"):
        core.load_settings(str(path))


def test_bridge_env_drops_gimps_python_settings(monkeypatch) -> None:
    monkeypatch.setenv("PYTHONHOME", "/gimp/python27")
    monkeypatch.setenv("PYTHONPATH", "/gimp/lib")
    env = core._bridge_env({"pythonpath": ""})
    assert "PYTHONHOME" not in env and "PYTHONPATH" not in env
    assert core._bridge_env({"pythonpath": "/src"})["PYTHONPATH"] == "/src"


# --- the bridge process, with fake bridges ----------------------------------------------


def fake_bridge(tmp_path: Path, body: str) -> dict:
    """Settings whose `python -m stylize.client.bridge` runs `body` (stdin/stdout are binary)."""
    package = tmp_path / "fake" / "stylize" / "client"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "bridge.py").write_text(
        "import json, struct, sys\nout = sys.stdout.buffer\n"
        "def emit(event, data=b''):\n"
        "    out.write(json.dumps(event).encode() + b'\\n' + data); out.flush()\n"
        "def read_request():\n"
        "    n = struct.unpack('>I', sys.stdin.buffer.read(4))[0]\n"
        "    header = json.loads(sys.stdin.buffer.read(n))\n"
        "    sizes = [header['content']['size']] + [s['size'] for s in header['styles']]\n"
        "    rest = b''.join(sys.stdin.buffer.read(k) for k in sizes)  # stdin stays open\n"
        "    return header, rest\n" + textwrap.dedent(body)
    )
    return {
        "python": sys.executable,
        "pythonpath": str(tmp_path / "fake"),
        "address": "x:1",
        "timeout": 5.0,
        "connect_timeout": 1.0,
    }


def style_file(tmp_path: Path) -> str:
    path = tmp_path / "style.png"
    path.write_bytes(b"\x89PNG fake style bytes")
    return str(path)


def run(tmp_path: Path, body: str, width=4, height=2, progress=None) -> bytes:
    settings = fake_bridge(tmp_path, body)
    request = core.make_request(0.8, "", [(style_file(tmp_path), 1.0)])
    pixels = bytes(i % 256 for i in range(width * height * 4))
    return core.stylize(pixels, width, height, RGBA, request, settings, progress)


def test_progress_then_result(tmp_path: Path) -> None:
    seen = []
    out = run(
        tmp_path,
        """
        header, rest = read_request()
        assert header["content"] == {"width": 4, "height": 2, "format": "RGBA8", "size": 32}
        assert header["styles"][0]["name"] == "style.png" and header["strength"] == 0.8
        assert header["keep_colors"] is False
        assert header["address"] == "x:1" and rest[32:] == b"\\x89PNG fake style bytes"
        emit({"event": "progress", "fraction": 0.25, "message": "working"})
        emit({"event": "result", "width": 4, "height": 2, "format": "RGBA8", "size": 32,
              "seconds": 0.1}, rest[:32][::-1])
    """,
        progress=lambda f, m: seen.append((f, m)),
    )
    assert out == bytes(range(32))[::-1]
    assert seen == [(0.25, "working")]


def test_error_event_becomes_the_message(tmp_path: Path) -> None:
    with pytest.raises(core.StylizeError, match=r"^Start the daemon$"):
        run(
            tmp_path,
            """
            read_request()
            emit({"event": "error", "code": "UNAVAILABLE", "message": "Start the daemon"})
        """,
        )


def test_error_before_reading_a_large_request(tmp_path: Path) -> None:
    """The bridge may answer and exit without reading everything (broken pipe)."""
    with pytest.raises(core.StylizeError, match=r"^early$"):
        run(
            tmp_path,
            """
            emit({"event": "error", "code": "INVALID_ARGUMENT", "message": "early"})
        """,
            width=1500,
            height=1000,
        )


def test_bridge_crash_shows_its_log(tmp_path: Path) -> None:
    with pytest.raises(core.StylizeError) as info:
        run(
            tmp_path,
            """
            read_request()
            emit({"event": "progress", "fraction": 0.1, "message": "x"})
            sys.stderr.write("Traceback: boom\\n")
            sys.exit(3)
        """,
        )
    message = str(info.value)
    assert "stopped unexpectedly" in message and "exit status 3" in message
    assert "boom" in message and "--check" in message


def test_garbage_output_is_reported(tmp_path: Path) -> None:
    with pytest.raises(core.StylizeError, match="unexpected output"):
        run(
            tmp_path,
            """
            read_request()
            print("hello from a stray print")
        """,
        )


def test_result_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(core.StylizeError, match="returned a 2x2 RGBA8 image"):
        run(
            tmp_path,
            """
            read_request()
            emit({"event": "result", "width": 2, "height": 2, "format": "RGBA8", "size": 16,
                  "seconds": 0}, bytes(16))
        """,
        )


def test_missing_bridge_interpreter(tmp_path: Path) -> None:
    settings = fake_bridge(tmp_path, "")
    settings["python"] = str(tmp_path / "no-such-python")
    request = core.make_request(1, "", [(style_file(tmp_path), 1.0)])
    with pytest.raises(core.StylizeError, match="Cannot start the Stylize bridge"):
        core.stylize(bytes(4), 1, 1, RGBA, request, settings)


def test_unreadable_style_file(tmp_path: Path) -> None:
    request = core.make_request(1, "", [(str(tmp_path / "gone.jpg"), 1.0)])
    with pytest.raises(core.StylizeError, match="Cannot read the style image"):
        core.stylize(bytes(4), 1, 1, RGBA, request, fake_bridge(tmp_path, ""))


def test_read_events_needs_a_final_event() -> None:
    import io

    stream = io.BytesIO(b'{"event": "progress", "fraction": 0.5}\n')
    events = protocol.read_events(stream)
    assert next(events)["fraction"] == 0.5
    with pytest.raises(protocol.ProtocolError, match="without a result"):
        next(events)


def test_encode_request_checks_blob_sizes() -> None:
    header = {"content": {"size": 3}, "styles": [{"size": 2}]}
    with pytest.raises(ValueError, match="do not match"):
        protocol.encode_request(header, [b"abc", b"x"])


@pytest.mark.parametrize(
    ("nick", "depth", "babl", "wire"),
    [
        ("u8-non-linear", "8", "R'G'B'A u8", "RGBA8"),
        ("u16-linear", "16", "R'G'B'A u16", "RGBA16"),
        ("u16-perceptual", "16", "R'G'B'A u16", "RGBA16"),
        ("u32-non-linear", "float", "R'G'B'A float", "RGBAF32"),
        ("half-linear", "float", "R'G'B'A float", "RGBAF32"),
        ("float-linear", "float", "R'G'B'A float", "RGBAF32"),
        ("double-perceptual", "float", "R'G'B'A float", "RGBAF32"),
    ],
)
def test_gimp3_precision_picks_the_read_format(nick: str, depth: str, babl: str, wire: str):
    """GIMP 3.0.4's precision nicks (seen in the real chroot) -> babl format and wire name."""
    assert core.depth_of_precision(nick) == depth
    fmt = core.PixelFormat(False, True, depth)
    assert (fmt.babl, fmt.name) == (babl, wire)


def test_samples_are_swapped_to_little_endian_on_big_endian_machines(monkeypatch) -> None:
    import struct

    fmt = core.PixelFormat(True, False, "16")
    native_big = struct.pack(">3H", 1, 258, 65534)
    monkeypatch.setattr(sys, "byteorder", "little")
    assert core.wire_order(native_big, fmt) == native_big  # GEGL's order is the wire's
    monkeypatch.setattr(sys, "byteorder", "big")
    assert core.wire_order(native_big, fmt) == struct.pack("<3H", 1, 258, 65534)
    floats = core.PixelFormat(False, False, "float")
    assert core.wire_order(struct.pack(">2f", 0.5, 3.25), floats) == struct.pack("<2f", 0.5, 3.25)


# --- the optimisation method -----------------------------------------------------------


def test_method_settings_by_name_or_option_index() -> None:
    by_name = core.make_request(1, "", [("a.jpg", 1)], method="optimize", preset="best",
                                balance=0.7, keep_steps=3)  # fmt: skip
    by_index = core.make_request(1, "", [("a.jpg", 1)], method=1, preset=2, balance=0.7,
                                 keep_steps=3)  # fmt: skip
    for request in (by_name, by_index):
        assert (request.method, request.preset, request.balance) == ("optimize", "best", 0.7)
        assert request.keep_steps == 3
    fast = core.make_request(1, "", [("a.jpg", 1)], keep_steps=3)
    assert (fast.method, fast.keep_steps) == ("fast", 0)  # steps belong to the optimisation


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"method": "slow"}, "Unknown method 'slow': use one of fast, optimize"),
        ({"method": 2}, "Unknown method 2"),
        ({"preset": "ultra"}, "Unknown quality preset 'ultra': use one of draft, good, best"),
        ({"balance": 1.2}, "balance must be between 0 and 1, got 1.2"),
        ({"balance": float("nan")}, "balance must be between 0 and 1"),
        ({"keep_steps": 21}, "between 0 and 20, got 21"),
    ],
)
def test_bad_method_settings_say_what_to_fix(settings, error) -> None:
    with pytest.raises(core.StylizeError, match=error):
        core.make_request(1, "", [("a.jpg", 1)], **settings)


def test_layer_name_of_an_optimisation_names_the_quality() -> None:
    request = core.make_request(0.5, "", [("/x/starry_night.jpg", 1)], method="optimize",
                                preset="draft", balance=0.8)  # fmt: skip
    assert core.layer_name("Photo", request) == "Photo (starry_night, draft quality, balance 0.8)"


def test_steps_reach_the_caller_with_their_png(tmp_path: Path) -> None:
    settings = fake_bridge(
        tmp_path,
        """
        header, rest = read_request()
        assert (header["method"], header["preset"]) == ("optimize", "good")
        assert (header["balance"], header["keep_steps"]) == (0.25, 2)
        for n in (10, 20):
            emit({"event": "step", "iteration": n, "iterations": 30, "width": 4, "height": 2,
                  "format": "PNG", "size": 5}, b"png%02d" % n)
        emit({"event": "result", "width": 4, "height": 2, "format": "RGBA8", "size": 32,
              "seconds": 0.1}, rest[:32])
        """,
    )
    request = core.make_request(1, "", [(style_file(tmp_path), 1.0)], method="optimize",
                                balance=0.25, keep_steps=2)  # fmt: skip
    steps = []
    core.stylize(bytes(32), 4, 2, RGBA, request, settings, on_step=steps.append)
    assert [(s.iteration, s.iterations, s.png) for s in steps] == [(10, 30, b"png10"),
                                                                 (20, 30, b"png20")]  # fmt: skip
    assert steps[1].name("Photo") == "Photo: iteration 20 of 30"
