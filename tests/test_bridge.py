"""The bridge (`python -m stylize.bridge`): framing shared with the plug-in core, error
mapping, retries, progress, and real runs against a daemon."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest
from conftest import REPO, STYLES, run_bridge
from PIL import Image
from stylize import bridge, client, user_messages

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


def test_artist_words_cover_every_stage() -> None:
    stages = {v.number for v in client.pb.Progress.Stage.DESCRIPTOR.values if v.number}
    assert set(bridge.ARTIST_WORDS) == stages
    assert bridge.ARTIST_WORDS[client.pb.Progress.STAGE_STYLIZING] == "Painting"


# --- the real program -------------------------------------------------------------------


def test_bridge_imports_neither_numpy_nor_tensorflow() -> None:
    code = (
        "import sys, stylize.bridge; stylize.bridge._import_client(); "
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
        [sys.executable, "-m", "stylize.bridge"],
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


def test_daemon_killed_mid_job_is_reported_as_such(tmp_path) -> None:
    from conftest import start_daemon

    daemon = start_daemon(tmp_path / "daemon.log")
    side = 1600
    bridge_process = subprocess.Popen(
        [sys.executable, "-m", "stylize.bridge"],
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
