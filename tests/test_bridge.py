"""The bridge (`python -m stylize.client.bridge`): framing shared with the plug-in core, error
mapping, retries, progress, and real runs against a daemon."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest
from conftest import REPO, STYLES, process_gone, run_bridge, wait_for
from PIL import Image
from stylize import progress_words
from stylize.client import bridge, user_messages
from stylize.client import library as client

sys.path.insert(0, str(REPO / "gimp_plugin"))
from stylize_gimp import protocol

STYLE = (STYLES / "starry_night.jpg").read_bytes()


def request_bytes(width=4, height=2, fmt="RGBA8", styles=(b"style-bytes",), **extra) -> bytes:
    bpp = client.BYTES_PER_PIXEL[fmt]
    pixels = bytes(i % 251 for i in range(width * height * bpp))
    header = {
        "address": extra.pop("address", "127.0.0.1:50051"),
        "timeout": 30.0,
        "strength": 0.75,
        "connect_timeout": extra.pop("connect_timeout", 1.0),
        "content": {"width": width, "height": height, "format": fmt, "size": len(pixels)},
        "styles": [
            {"name": f"s{i}.jpg", "weight": 1.0 + i, "size": len(s)} for i, s in enumerate(styles)
        ],
        **extra,
    }
    return protocol.encode_request(header, [pixels, *styles])


def events_of(data: bytes) -> list[dict]:
    return list(protocol.read_events(io.BytesIO(data)))


# --- framing ----------------------------------------------------------------------------


def test_reads_what_the_plugin_core_writes() -> None:
    header, content, styles = bridge.read_request(io.BytesIO(request_bytes(styles=(b"a", b"bc"))))
    assert header["content"] == {"width": 4, "height": 2, "format": "RGBA8", "size": 32}
    assert header["version"] == protocol.VERSION and header["strength"] == 0.75
    assert content == bytes(range(32)) and styles == [b"a", b"bc"]


def test_events_are_what_the_plugin_core_reads() -> None:
    out = io.BytesIO()
    emit = bridge.event_writer(out)
    emit({"event": "progress", "fraction": 0.5, "message": "half"}, b"")
    emit({"event": "result", "width": 1, "height": 1, "format": "GRAY8", "size": 1}, b"\n")
    events = events_of(out.getvalue())
    assert [e["event"] for e in events] == ["progress", "result"]
    assert events[1]["data"] == b"\n"  # raw bytes after the line, even a newline


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (request_bytes()[:-3], "INVALID_ARGUMENT"),  # truncated style
        (b"\x00\x00", "INVALID_ARGUMENT"),  # truncated length
        (b"\x00\x00\x00\x02{]", "INVALID_ARGUMENT"),  # bad JSON
        (b"\xff\xff\xff\xff", "INVALID_ARGUMENT"),  # absurd header length
    ],
)
def test_malformed_requests_are_refused(data: bytes, code: str) -> None:
    with pytest.raises(bridge.BridgeError) as info:
        bridge.read_request(io.BytesIO(data))
    assert info.value.code == code


def test_protocol_version_mismatch_says_reinstall() -> None:
    data = request_bytes()
    n = int.from_bytes(data[:4], "big")
    header = json.loads(data[4 : 4 + n])
    header["version"] = 99
    text = json.dumps(header).encode()
    with pytest.raises(bridge.BridgeError, match="stylize gimp install"):
        bridge.read_request(io.BytesIO(len(text).to_bytes(4, "big") + text + data[4 + n :]))


# --- messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "command"),
    [
        ("127.0.0.1:50051", "stylize serve"),
        ("127.0.0.1:6000", "stylize serve --port 6000"),
        ("10.1.2.3:50051", "stylize serve --host 10.1.2.3"),
        ("localhost:7", "stylize serve --port 7"),
        (
            "ipv4:10.0.0.1:50051,10.0.0.2:50051",
            "stylize serve --host HOST on each machine of the pool",
        ),
        ("dns:///stylize.lan:50051", "stylize serve --host HOST on each machine of the pool"),
    ],
)
def test_serve_command(address: str, command: str) -> None:
    assert user_messages.serve_command(address) == command


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            client.ClientError("UNAVAILABLE", "refused"),
            "Cannot reach the Stylize daemon at 127.0.0.1:6000. Start it "
            "with `stylize serve --port 6000`",
        ),
        (client.ClientError("UNAVAILABLE", "reset", started=True), "stopped during the job"),
        (
            client.ClientError("CANCELLED", "gone", started=True),
            "Restart it with `stylize serve --port 6000`",
        ),
        (client.ClientError("DEADLINE_EXCEEDED", "late"), "did not finish within 30 seconds"),
        (
            client.ClientError("RESOURCE_EXHAUSTED", "big", reason="LIMIT_EXCEEDED"),
            "Select a smaller area",
        ),
        (
            client.ClientError("RESOURCE_EXHAUSTED", "full", reason="BUSY", retry_after=1.0),
            "busy: full. Try again in a moment",
        ),
        (
            client.ClientError("INVALID_ARGUMENT", "bad", reason="X", field="styles[1]"),
            "cannot use style 2: bad",
        ),
        (
            client.ClientError("INVALID_ARGUMENT", "tiny", field="setup.content"),
            "cannot use the image: tiny",
        ),
        (client.ClientError("UNIMPLEMENTED", "what"), "not a compatible Stylize daemon"),
        (
            client.ClientError("INTERNAL", "bug", request_id="r-42"),
            "(request id r-42)",
        ),
    ],
)
def test_errors_say_what_to_do(error: client.ClientError, expected: str) -> None:
    assert expected in user_messages.explain(error, "127.0.0.1:6000", 30.0, "settings")


def test_bad_pixel_format_is_refused() -> None:
    header, content, styles = bridge.read_request(io.BytesIO(request_bytes()))
    header["content"]["format"] = "CMYK8"
    with pytest.raises(bridge.BridgeError, match="unknown pixel format"):
        bridge.parse_job(header, content, styles)


def test_artist_words_cover_every_stage_by_its_wire_name() -> None:
    stages = {v.name for v in client.pb.Progress.Stage.DESCRIPTOR.values if v.number}
    assert set(progress_words.STAGE_WORDS) == stages
    painting = client.pb.Progress(stage=client.pb.Progress.STAGE_STYLIZING, fraction=0.5)
    assert bridge.status_words(painting) == "Painting… 50%"


# --- the real program -------------------------------------------------------------------


def test_bridge_imports_neither_numpy_nor_tensorflow() -> None:
    code = (
        "import sys, stylize.client.bridge; stylize.client.bridge._import_client(); "
        "bad = {'numpy', 'tensorflow', 'PIL'} & set(sys.modules); assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_check_mode() -> None:
    done = run_bridge(b"", "--check")
    assert done.returncode == 0 and b"stylize bridge ok" in done.stdout


def test_garbage_in_gives_an_error_event() -> None:
    done = run_bridge(b"\x00\x00\x00\x05hello")
    assert done.returncode == 1
    (event,) = events_of(done.stdout)
    assert event["event"] == "error" and event["code"] == "INVALID_ARGUMENT"


def test_real_daemon_round_trip(daemon_address: str) -> None:
    done = run_bridge(request_bytes(96, 64, "RGBA8", styles=(STYLE,), address=daemon_address))
    assert done.returncode == 0, done.stderr.decode()
    events = events_of(done.stdout)
    assert events[-1]["event"] == "result"
    progress = [e["fraction"] for e in events if e["event"] == "progress"]
    assert len(progress) >= 3 and progress == sorted(progress) and progress[-1] > 0.9
    words = [e["message"] for e in events if e["event"] == "progress"]
    assert "Painting… 15%" in words and "stylizing" not in " ".join(words)
    data = events[-1]["data"]
    source = bytes(i % 251 for i in range(96 * 64 * 4))
    assert len(data) == len(source) and data[3::4] == source[3::4]  # alpha untouched
    assert data[0::4] != source[0::4]


def test_real_daemon_rejects_a_bad_style(daemon_address: str) -> None:
    done = run_bridge(
        request_bytes(64, 64, "GRAY8", styles=(STYLE, b"not an image"), address=daemon_address)
    )
    assert done.returncode == 1
    event = events_of(done.stdout)[-1]
    assert event["code"] == "INVALID_ARGUMENT"
    assert "Stylize cannot use style 2" in event["message"]  # the style, not the content


def test_real_daemon_rejects_a_tiny_layer_as_the_image(daemon_address: str) -> None:
    done = run_bridge(request_bytes(8, 8, "GRAY8", styles=(STYLE,), address=daemon_address))
    event = events_of(done.stdout)[-1]
    assert event["code"] == "INVALID_ARGUMENT"
    assert "Stylize cannot use the image" in event["message"] and "8x8" in event["message"]


def test_real_daemon_gets_the_stroke_scale(daemon_address: str) -> None:
    """The header's stroke_scale reaches the daemon: 16 on 96x64 paints 64x43; a value
    the daemon refuses comes back as its INVALID_ARGUMENT."""

    def run(scale: float | None) -> dict:
        extra = {} if scale is None else {"stroke_scale": scale}
        request = request_bytes(96, 64, "RGB8", styles=(STYLE,), address=daemon_address, **extra)
        return events_of(run_bridge(request).stdout)[-1]

    default, big = run(None), run(16.0)
    assert default["event"] == big["event"] == "result"
    assert (big["width"], big["height"]) == (96, 64)
    pairs = zip(default["data"], big["data"], strict=True)
    assert sum(abs(a - b) for a, b in pairs) / len(big["data"]) > 10
    refused = run(0.0)
    assert refused["code"] == "INVALID_ARGUMENT" and "stroke scale" in refused["message"]


def test_real_daemon_keep_colors(daemon_address: str) -> None:
    """With keep_colors the result's chroma is the layer's (up to RGB gamut clipping)."""
    import numpy as np
    from conftest import sample_photo

    photo = sample_photo(64, 64)
    header, _, _ = bridge.read_request(io.BytesIO(request_bytes(64, 64, "RGB8")))
    header["address"], header["styles"][0]["size"] = daemon_address, len(STYLE)

    def chroma_error(keep: bool) -> float:
        header["keep_colors"] = keep
        request = protocol.encode_request(header, [photo.tobytes(), STYLE])
        data = events_of(run_bridge(request).stdout)[-1]["data"]
        out = np.asarray(Image.frombytes("RGB", (64, 64), data).convert("YCbCr"), np.float64)
        source = np.asarray(photo.convert("YCbCr"), np.float64)
        return float(np.abs(out[..., 1:] - source[..., 1:]).mean())

    assert chroma_error(True) < 2.0 < chroma_error(False)


@pytest.mark.slow
def test_no_daemon_is_reported_once_the_connect_budget_is_spent() -> None:
    done = run_bridge(request_bytes(address="127.0.0.1:9", connect_timeout=0.2))
    event = events_of(done.stdout)[-1]
    assert event["code"] == "UNAVAILABLE"
    assert "Cannot reach the Stylize daemon at 127.0.0.1:9" in event["message"]
    assert "stylize serve --port 9" in event["message"]


def test_a_plugin_that_goes_away_cancels_the_daemons_job(daemon_process) -> None:
    """GIMP ends a cancelled plug-in: its end of the lifeline closes, the job stops."""
    since = len(daemon_process.log())
    bridge_process = subprocess.Popen(
        [sys.executable, "-m", "stylize.client.bridge"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert bridge_process.stdin is not None and bridge_process.stdout is not None
    bridge_process.stdin.write(
        request_bytes(1600, 1600, "GRAY8", styles=(STYLE,), address=daemon_process.address)
    )
    bridge_process.stdin.flush()
    for event in protocol.read_events(bridge_process.stdout):
        if event["message"].startswith("Painting"):
            bridge_process.stdin.close()  # as when GIMP kills the plug-in
            break
    assert bridge_process.wait(30) is not None
    deadline = time.monotonic() + 30  # the job stops at its next cancellation check
    while "job stopped" not in daemon_process.log()[since:] and time.monotonic() < deadline:
        time.sleep(0.1)
    log = daemon_process.log()[since:]
    assert "job stopped" in log and "stylize done" not in log, log[-2000:]
    assert b"the plug-in went away" in bridge_process.stderr.read()


@pytest.mark.slow
def test_daemon_killed_mid_job_is_reported_as_such(tmp_path) -> None:
    from conftest import start_daemon

    daemon = start_daemon(tmp_path / "daemon.log")
    side = 1600
    bridge_process = subprocess.Popen(
        [sys.executable, "-m", "stylize.client.bridge"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert bridge_process.stdin is not None and bridge_process.stdout is not None
        bridge_process.stdin.write(
            request_bytes(side, side, "GRAY8", styles=(STYLE,), address=daemon.address)
        )
        bridge_process.stdin.flush()  # stays open: the plug-in is still there
        for event in protocol.read_events(bridge_process.stdout):
            if event["event"] == "progress" and event["message"].startswith("Painting"):
                daemon.process.kill()
            last = event
        assert last["event"] == "error", last
        assert "stopped during the job" in last["message"]
        assert f"--port {daemon.address.rpartition(':')[2]}" in last["message"]
    finally:
        daemon.process.kill()
        bridge_process.wait(30)


# --- the optimisation method ------------------------------------------------------------


def parsed(**extra) -> bridge.JobRequest:
    header, content, styles = bridge.read_request(io.BytesIO(request_bytes(**extra)))
    return bridge.parse_job(header, content, styles)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"method": "slow"}, "unknown method 'slow': use one of fast, optimize"),
        ({"method": "optimize", "preset": "ultra"}, "unknown quality preset 'ultra'"),
        ({"method": "optimize", "balance": 1.5}, "balance must be between 0 and 1, got 1.5"),
        ({"method": "optimize", "balance": float("nan")}, "balance must be between 0 and 1"),
        ({"method": "optimize", "keep_steps": -1}, "keep_steps must be 0..20, got -1"),
        ({"method": "optimize", "keep_steps": 21}, "keep_steps must be 0..20, got 21"),
        ({"method": "optimize", "keep_steps": "many"}, "malformed request header"),
    ],
)
def test_bad_method_settings_are_refused(extra: dict, words: str) -> None:
    with pytest.raises(bridge.BridgeError) as info:
        parsed(**extra)
    assert info.value.code == "INVALID_ARGUMENT" and words in info.value.message


@pytest.mark.parametrize("version", [2, 3])  # before the optimisation method
def test_an_older_plugin_still_gets_the_fast_method(version: int) -> None:
    data = request_bytes()
    n = int.from_bytes(data[:4], "big")
    header = json.loads(data[4 : 4 + n])
    header["version"] = version
    text = json.dumps(header).encode()
    old = bridge.read_request(io.BytesIO(len(text).to_bytes(4, "big") + text + data[4 + n :]))
    request = bridge.parse_job(*old)
    assert (request.method, request.keep_steps) == ("fast", 0)


def test_a_plugin_newer_than_the_bridge_is_told_to_update() -> None:
    data = request_bytes()
    n = int.from_bytes(data[:4], "big")
    header = json.loads(data[4 : 4 + n])
    header["version"] = bridge.PROTOCOL_VERSION + 1
    text = json.dumps(header).encode()
    with pytest.raises(bridge.BridgeError, match="update Stylize") as info:
        bridge.read_request(io.BytesIO(len(text).to_bytes(4, "big") + text + data[4 + n :]))
    assert info.value.code == "FAILED_PRECONDITION"


def test_balance_moves_the_ratio_and_keeps_the_product() -> None:
    weights = [bridge.balance_weights(b / 10) for b in range(11)]
    ratios = [style / content for content, style in weights]
    assert ratios == sorted(ratios)
    assert ratios[-1] / ratios[0] == pytest.approx(bridge.BALANCE_RANGE)
    products = {round(content * style, 6) for content, style in weights}
    assert len(products) == 1
    assert weights[5] == pytest.approx(bridge.BALANCE_CENTRE)


@pytest.mark.parametrize(
    ("size", "preset", "keep", "preview_every", "max_side"),
    [
        ((2000, 1500), "draft", 0, 0, 512),
        ((2000, 1500), "good", 4, 30, 1024),
        ((2000, 1500), "best", 1, 200, 0),
        ((300, 200), "draft", 0, 0, 0),  # smaller than the cap: its own size
        ((4000, 60), "draft", 0, 0, 0),  # capping would leave 7 px rows: not capped
    ],
)
def test_presets_become_optimize_options(size, preset, keep, preview_every, max_side) -> None:
    request = bridge.JobRequest(
        None, None, None, 1.0, False, "none", None, *size, "RGB8", b"", (), {}, "optimize", preset,
        0.5, keep,
    )  # fmt: skip
    options, side = bridge.optimize_setup(request)
    assert options.iterations == bridge.PRESETS[preset].iterations
    assert (options.preview_every, side) == (preview_every, max_side)
    assert (options.content_weight, options.style_weight) == pytest.approx(bridge.BALANCE_CENTRE)


def test_optimisation_progress_in_an_artists_words() -> None:
    progress = client.pb.Progress(
        stage=client.pb.Progress.STAGE_OPTIMIZING, fraction=0.4, scale=2, scales=3,
        seconds_left=200, message="refining at 512x384, scale 2 of 3: iteration 60, loss 1e5",
    )  # fmt: skip
    words = bridge.status_words(progress)
    assert words == "Refining the painting (pass 2 of 3)… 40%, about 3 min left"
    progress.seconds_left = 0  # not known yet
    assert bridge.status_words(progress) == "Refining the painting (pass 2 of 3)… 40%"
    assert progress_words.time_left(20) == "less than a minute left"
    assert progress_words.time_left(3 * 3600 + 5 * 60) == "about 3 h 05 min left"


OPTIMIZE = {"method": "optimize", "preset": "draft", "balance": 0.5}


@pytest.mark.slow
def test_real_daemon_optimisation_with_steps(daemon_address: str) -> None:
    from conftest import sample_photo

    photo = sample_photo(64, 48).convert("RGBA")
    header, _, _ = bridge.read_request(io.BytesIO(request_bytes(64, 48, "RGBA8")))
    header.update(OPTIMIZE, address=daemon_address, keep_steps=2, timeout=1.0)
    header["styles"][0]["size"] = len(STYLE)
    done = run_bridge(protocol.encode_request(header, [photo.tobytes(), STYLE]), timeout=600)
    assert done.returncode == 0, done.stderr.decode()
    events = events_of(done.stdout)
    steps = [e for e in events if e["event"] == "step"]
    iterations = bridge.PRESETS["draft"].iterations
    every = iterations // 3  # two steps spread before the last iteration
    assert [s["iteration"] for s in steps] == [every, 2 * every]
    for step in steps:
        assert Image.open(io.BytesIO(step["data"])).size == (64, 48)
        assert step["iterations"] == iterations
    words = [e["message"] for e in events if e["event"] == "progress"]
    assert any(w.startswith("Refining the painting… ") for w in words), words
    assert any(w.endswith(" left") for w in words)  # the daemon's estimate, in minutes
    result = events[-1]
    assert result["event"] == "result" and (result["width"], result["height"]) == (64, 48)
    assert result["seconds"] > header["timeout"]  # an optimisation has no deadline
    assert result["data"][3::4] == photo.tobytes()[3::4]  # alpha untouched
    assert result["data"] != photo.tobytes()


# A stand-in for the GIMP plug-in: the real core spawns the real bridge and reports
# progress on stdout; GIMP ends a cancelled plug-in with SIGKILL (gimp_plug_in_close).
PLUGIN = """
import json, sys
sys.path.insert(0, {gimp_plugin!r})
from stylize_gimp import bridge_process, core
spawn = bridge_process._spawn_bridge
def spawn_and_tell(settings, stderr):
    proc = spawn(settings, stderr)
    print("bridge", proc.pid, flush=True)
    return proc
bridge_process._spawn_bridge = spawn_and_tell
request = core.make_request(1.0, {address!r}, [({style!r}, 1.0)], method={method!r},
                            preset="best")
side = {side}
core.stylize(bytes(side * side), side, side, core.PixelFormat(True, False), request,
             settings=dict(core.load_settings(), python=sys.executable),
             progress=lambda fraction, message: print("progress", message, flush=True))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("method", "side", "words"), [("fast", 1600, "Painting"),
                                                        ("optimize", 64, "Refining")])  # fmt: skip
def test_gimp_killing_the_plugin_cancels_the_job(daemon_process, method, side, words) -> None:
    """GIMP cancels a plug-in by killing it: the bridge it spawned cancels the daemon's
    job at once (its stdin, the lifeline, closes) and exits."""
    since = len(daemon_process.log())
    code = PLUGIN.format(
        gimp_plugin=str(REPO / "gimp_plugin"), address=daemon_process.address,
        style=str(STYLES / "starry_night.jpg"), method=method, side=side,
    )  # fmt: skip
    plugin = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert plugin.stdout is not None
    bridge_pid = None
    for line in plugin.stdout:
        if line.startswith("bridge "):
            bridge_pid = int(line.split()[1])
        if line.startswith(f"progress {words}"):
            plugin.kill()  # SIGKILL, as gimp_plug_in_close(plug_in, kill_it=TRUE)
            break
    plugin.wait(30)
    assert bridge_pid is not None and plugin.returncode == -9
    assert wait_for(lambda: "job stopped" in daemon_process.log()[since:]), daemon_process.log()
    assert "stylize done" not in daemon_process.log()[since:]
    assert wait_for(lambda: process_gone(bridge_pid))


# -- the dialog's preview session: one bridge for many requests ---------------------------


def test_a_session_answers_requests_one_after_another(daemon_address: str) -> None:
    """Two jobs, a refused one between them, then stdin closes and the bridge exits 0."""
    good = request_bytes(96, 64, "RGBA8", styles=(STYLE,), address=daemon_address)
    bad = request_bytes(96, 64, "RGBA8", styles=(b"not an image",), address=daemon_address)
    done = subprocess.run(
        [sys.executable, "-m", "stylize.client.bridge", "--session"],
        input=good + bad + good,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    stream = io.BytesIO(done.stdout)
    finals = []
    for _ in range(3):
        finals.append([e for e in protocol.read_events(stream)][-1])
    assert [e["event"] for e in finals] == ["result", "error", "result"]
    assert finals[1]["code"] == "INVALID_ARGUMENT"
    assert len(finals[0]["data"]) == len(finals[2]["data"]) == 96 * 64 * 4
    assert stream.read() == b""  # nothing after the last answer


def test_a_session_stops_at_a_request_it_cannot_read() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stylize.client.bridge", "--session"],
        input=b"\x00\x00\x00\x05{bad}",
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert events_of(done.stdout)[-1]["code"] == "INVALID_ARGUMENT"


def test_the_plugins_session_keeps_one_bridge_for_every_preview(daemon_address: str) -> None:
    from stylize_gimp import core

    settings = {"python": sys.executable, "pythonpath": "", "address": daemon_address,
                "timeout": 120.0, "connect_timeout": 10.0}  # fmt: skip
    session = core.BridgeSession(settings)
    fmt = core.PixelFormat(False, True)
    pixels = bytes(i % 251 for i in range(64 * 48 * 4))
    style = str(STYLES / "starry_night.jpg")
    try:
        first = session.stylize(pixels, 64, 48, fmt, core.make_request(1.0, "", [(style, 1.0)]))
        pid = session._proc.pid
        second = session.stylize(pixels, 64, 48, fmt, core.make_request(0.4, "", [(style, 1.0)]))
        assert session._proc.pid == pid  # the same warm bridge
        assert len(first) == len(second) == len(pixels) and first != second
        with pytest.raises(core.StylizeError):  # a refusal leaves the session usable
            session.stylize(pixels, 64, 48, fmt, core.make_request(1.0, "", [(__file__, 1.0)]))
        assert session.stylize(pixels, 64, 48, fmt, core.make_request(1.0, "", [(style, 1.0)]))
        assert session._proc.pid == pid
        process = session._proc
    finally:
        session.close()
    assert wait_for(lambda: process.poll() is not None)  # closing ends the bridge
