"""The bridge (`python -m stylize.bridge`): framing shared with the plug-in core, error
mapping, retries, progress, and real runs against a daemon."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from conftest import REPO, STYLES
from stylize import bridge, client

sys.path.insert(0, str(REPO / "gimp_plugin"))
from stylize_gimp import protocol

STYLE = (STYLES / "starry_night.jpg").read_bytes()


def request_bytes(width=4, height=2, fmt="RGBA8", styles=(b"style-bytes",), **extra) -> bytes:
    bpp = client.CHANNELS[fmt]
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
    assert header["version"] == 1 and header["strength"] == 0.75
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
    ],
)
def test_serve_command(address: str, command: str) -> None:
    assert bridge.serve_command(address) == command


@pytest.mark.parametrize(
    ("code", "started", "expected"),
    [
        (
            "UNAVAILABLE",
            False,
            "Cannot reach the Stylize daemon at 127.0.0.1:6000. Start it "
            "with `stylize serve --port 6000`",
        ),
        ("UNAVAILABLE", True, "stopped during the job"),
        ("CANCELLED", True, "Restart it with `stylize serve --port 6000`"),
        ("DEADLINE_EXCEEDED", True, "did not finish within 30 seconds"),
        ("RESOURCE_EXHAUSTED", False, "select a smaller area"),
        ("INVALID_ARGUMENT", False, "Choose another style image"),
        ("UNIMPLEMENTED", False, "not a compatible Stylize daemon"),
    ],
)
def test_errors_say_what_to_do(code: str, started: bool, expected: str) -> None:
    message = bridge.explain(code, "details", "127.0.0.1:6000", 30.0, started)
    assert expected in message


# --- the job, against a scripted client -------------------------------------------------


@dataclass
class ScriptedClient:
    """Stands in for stylize.client: each call pops the next outcome."""

    outcomes: list
    calls: int = 0

    ClientError = client.ClientError
    RawImage = client.RawImage
    DEFAULT_ADDRESS = client.DEFAULT_ADDRESS
    CHANNELS = client.CHANNELS
    encoded_style = staticmethod(client.encoded_style)
    pb = client.pb

    def StylizeClient(self, address, timeout, connect_timeout):
        scripted = self

        class _Client:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def stylize(self, image, sources, strength, options, on_progress):
                scripted.calls += 1
                scripted.last = (address, timeout, image, sources, strength)
                scripted.options = options
                for fraction in (0.2, 0.9):
                    on_progress(SimpleNamespace(fraction=fraction, message=f"at {fraction}"))
                    outcome = scripted.outcomes[0]
                    if isinstance(outcome, tuple) and outcome[0] == "after-progress":
                        scripted.outcomes.pop(0)
                        raise client.ClientError(outcome[1], "socket closed")
                outcome = scripted.outcomes.pop(0)
                if isinstance(outcome, Exception):
                    raise outcome
                return client.StylizeResult(outcome, None, [0.0] * 100, 0.5)

        class _Failing(_Client):
            def stylize(self, image, sources, strength, options, on_progress):
                scripted.calls += 1
                raise scripted.outcomes.pop(0)

        if isinstance(self.outcomes[0], Exception):
            return _Failing()
        return _Client()


def run_job(outcomes: list, **extra) -> tuple[list[dict], ScriptedClient]:
    fake = ScriptedClient(outcomes)
    header, content, styles = bridge.read_request(io.BytesIO(request_bytes(**extra)))
    out = io.BytesIO()
    try:
        bridge.run_job(
            fake, header, content, styles, bridge.event_writer(out), sleep=lambda s: None
        )
    except bridge.BridgeError as e:
        bridge.event_writer(out)({"event": "error", "code": e.code, "message": e.message})
    return events_of(out.getvalue()), fake


def test_progress_is_forwarded_then_the_result() -> None:
    result = client.RawImage(4, 2, "RGBA8", bytes(32))
    events, fake = run_job([result])
    assert [e["event"] for e in events] == ["progress"] * 3 + ["result"]
    assert [e["fraction"] for e in events[:3]] == [0.0, 0.2, 0.9]
    assert events[-1]["data"] == bytes(32) and events[-1]["format"] == "RGBA8"
    address, timeout, image, sources, strength = fake.last
    assert (address, timeout, strength) == ("127.0.0.1:50051", 30.0, 0.75)
    assert (image.width, image.height, image.format) == (4, 2, "RGBA8")
    assert sources[0].encoded == b"style-bytes" and sources[0].weight == 1.0
    assert not fake.options.preserve_colors


def test_keep_colors_asks_the_daemon_to_preserve_colours() -> None:
    events, fake = run_job([client.RawImage(4, 2, "RGBA8", bytes(32))], keep_colors=True)
    assert events[-1]["event"] == "result"
    assert fake.options.preserve_colors


def test_unavailable_before_the_job_starts_is_retried() -> None:
    unavailable = client.ClientError("UNAVAILABLE", "connection refused")
    result = client.RawImage(4, 2, "RGBA8", bytes(32))
    events, fake = run_job([unavailable, unavailable, result], connect_timeout=60.0)
    assert fake.calls == 3 and events[-1]["event"] == "result"


def test_unavailable_after_the_connect_budget_is_final() -> None:
    unavailable = client.ClientError("UNAVAILABLE", "connection refused")
    events, fake = run_job([unavailable] * 50, connect_timeout=0.0)
    assert fake.calls == 1
    assert events[-1]["code"] == "UNAVAILABLE"
    assert "Cannot reach the Stylize daemon" in events[-1]["message"]


def test_daemon_lost_mid_job_is_not_retried() -> None:
    events, fake = run_job([("after-progress", "UNAVAILABLE")], connect_timeout=60.0)
    assert fake.calls == 1
    assert "stopped during the job" in events[-1]["message"]


def test_bad_pixel_format_is_refused() -> None:
    with pytest.raises(bridge.BridgeError, match="unknown pixel format"):
        bridge._content_image(client, {"width": 1, "height": 1, "format": "CMYK8"}, b"1234")


# --- the real program -------------------------------------------------------------------


def run_bridge(data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "stylize.bridge", *args],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )


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
    data = events[-1]["data"]
    source = bytes(i % 251 for i in range(96 * 64 * 4))
    assert len(data) == len(source) and data[3::4] == source[3::4]  # alpha untouched
    assert data[0::4] != source[0::4]


def test_real_daemon_rejects_a_bad_style(daemon_address: str) -> None:
    done = run_bridge(
        request_bytes(8, 8, "GRAY8", styles=(b"not an image",), address=daemon_address)
    )
    assert done.returncode == 1
    event = events_of(done.stdout)[-1]
    assert event["code"] == "INVALID_ARGUMENT" and "Choose another style image" in event["message"]
