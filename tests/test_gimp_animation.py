"""GIMP animations as one sequence: the frame plan (stylize_gimp/animation.py), the bridge's
"sequence" request (protocol 5) and the whole path against a real daemon, cancel included."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from conftest import REPO, STYLES, process_gone, sample_photo, wait_for
from stylize.client import bridge

sys.path.insert(0, str(REPO / "gimp_plugin"))
from stylize_gimp import animation, core, protocol

STYLE = str(STYLES / "starry_night.jpg")
RGB = core.PixelFormat(False, False)
RGBA = core.PixelFormat(False, True)


def layers(*specs):
    """(name, offsets, w, h, alpha) tuples, bottom first."""
    return list(specs)


def test_frames_are_the_layers_bottom_first_at_the_canvas_size() -> None:
    plan = animation.plan_frames(
        48,
        32,
        layers(
            ("Frame 1 (100ms)", (0, 0), 48, 32, False), ("Frame 2 (200ms)", (0, 0), 48, 32, False)
        ),
    )
    assert [f.name for f in plan.frames] == ["Frame 1 (100ms)", "Frame 2 (200ms)"]
    assert [f.index for f in plan.frames] == [0, 1]
    assert (plan.width, plan.height, plan.alpha) == (48, 32, False)
    assert all(plan.covers(f) for f in plan.frames)


def test_a_smaller_or_offset_layer_is_sent_on_a_transparent_canvas() -> None:
    plan = animation.plan_frames(
        8, 4, layers(("bg", (0, 0), 8, 4, False), ("sprite", (-2, 1), 5, 5, False))
    )
    sprite = plan.frames[1]
    assert plan.alpha and not plan.covers(sprite)
    assert (sprite.x, sprite.y, sprite.width, sprite.height) == (0, 1, 3, 3)
    assert (sprite.read_x, sprite.read_y) == (2, 0)  # layer coordinates
    pixels = bytes(range(3 * 3 * 4))
    canvas = animation.on_canvas(pixels, sprite, plan, RGBA)
    assert len(canvas) == 8 * 4 * 4 and canvas[:32] == bytes(32)  # row 0: transparent
    assert canvas[32:44] == pixels[:12]  # row 1 starts with the sprite's first row
    assert animation.off_canvas(canvas, sprite, plan, RGBA) == pixels


def test_a_layer_outside_the_canvas_is_refused_with_advice() -> None:
    with pytest.raises(core.StylizeError, match="Fit Canvas to Layers"):
        animation.plan_frames(8, 8, layers(("far", (20, 0), 4, 4, True)))
    with pytest.raises(core.StylizeError, match="no layers"):
        animation.plan_frames(8, 8, [])


def test_alpha_is_added_opaque_for_gimp2_regions() -> None:
    rgb = bytes([1, 2, 3, 4, 5, 6])
    assert animation.with_alpha(rgb, RGB, RGBA) == bytes([1, 2, 3, 255, 4, 5, 6, 255])
    gray16 = core.PixelFormat(True, False, "16")
    graya16 = core.PixelFormat(True, True, "16")
    assert animation.with_alpha(b"\x01\x02", gray16, graya16) == b"\x01\x02\xff\xff"
    assert animation.with_alpha(rgb, RGB, RGB) == rgb


def test_the_sequence_header_is_what_the_bridge_reads() -> None:
    plan = animation.plan_frames(48, 32, layers(("a", (0, 0), 48, 32, False)) * 3)
    request = core.make_request(0.7, "", [(core.LibraryStyle("great_wave"), 1.0)])
    settings = dict(core.load_settings(), address="x:1")
    header, blobs = animation.sequence_header(plan, RGB, request, settings, consistent=False)
    data = protocol.encode_request(header, blobs)
    read, content, styles = bridge.read_request(io.BytesIO(data))
    assert read["version"] == protocol.VERSION and content == b"" and styles == [b""]
    sequence = bridge.parse_sequence(read, styles)
    assert (sequence.count, sequence.consistent) == (3, False)
    job = sequence.job
    assert (job.width, job.height, job.format, job.strength) == (48, 32, "RGB8", 0.7)
    assert job.styles[0].named and job.styles[0].name == "great_wave"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"count": 0}, "1..100000 frames"),
        ({"size": 5}, "5 bytes of pixels"),
        ({"format": "CMYK8"}, "unknown pixel format"),
    ],
)
def test_bad_sequences_are_refused(change: dict, words: str) -> None:
    header = {
        "request": "sequence",
        "strength": 1.0,
        "frames": {"count": 2, "width": 16, "height": 16, "format": "RGB8", "size": 768},
        "styles": [{"name": "s.jpg", "weight": 1.0, "size": 1}],
    }
    header["frames"].update(change)
    with pytest.raises(bridge.BridgeError, match=words):
        bridge.parse_sequence(header, [b"x"])


def frames_of(count: int, width: int, height: int) -> list[bytes]:
    """Frames of a photo panning right, one pixel a frame."""
    photo = sample_photo(width + count, height).tobytes()
    row = (width + count) * 3
    return [
        b"".join(photo[r * row + 3 * i : r * row + 3 * (i + width)] for r in range(height))
        for i in range(count)
    ]


def settings_for(address: str) -> dict:
    return {"python": sys.executable, "pythonpath": "", "address": address,
            "timeout": 120.0, "connect_timeout": 10.0}  # fmt: skip


def test_an_animation_through_the_real_bridge_and_daemon(daemon_address: str) -> None:
    count, width, height = 5, 48, 32
    source = frames_of(count, width, height)
    plan = animation.plan_frames(
        width,
        height,
        [(f"Frame {i + 1} (80ms)", (0, 0), width, height, False) for i in range(count)],
    )
    asked, seen = [], []

    def read_frame(frame):
        asked.append(frame.index)
        return source[frame.index]

    request = core.make_request(1.0, "", [(STYLE, 1.0)])
    results = animation.stylize_frames(
        read_frame, plan, RGB, request, settings=settings_for(daemon_address),
        progress=lambda fraction, words: seen.append((fraction, words)),
    )  # fmt: skip
    assert asked == list(range(count))  # each frame read once, in order
    assert len(results) == count and all(len(r) == width * height * 3 for r in results)
    assert all(
        sum(abs(a - b) for a, b in zip(r, s, strict=True)) / len(r) > 10
        for r, s in zip(results, source, strict=True)
    )  # painted
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(words.startswith(f"Painted frame {count} of {count}") for _, words in seen)


def test_a_daemon_refusal_of_the_sequence_becomes_the_message(daemon_address: str) -> None:
    plan = animation.plan_frames(48, 32, [("a", (0, 0), 48, 32, False)] * 2)
    request = core.make_request(1.0, "", [(core.LibraryStyle("no_such_style"), 1.0)])
    with pytest.raises(core.StylizeError, match="no_such_style"):
        animation.stylize_frames(
            lambda frame: bytes(48 * 32 * 3), plan, RGB, request,
            settings=settings_for(daemon_address),
        )  # fmt: skip


# A stand-in for the GIMP plug-in running an animation: GIMP ends a cancelled plug-in with
# SIGKILL (gimp_plug_in_close); the bridge's stdin closes and the sequence must stop.
PLUGIN = """
import sys
sys.path.insert(0, {gimp_plugin!r})
from stylize_gimp import animation, bridge_process, core
spawn = bridge_process._spawn_bridge
def spawn_and_tell(settings, stderr):
    proc = spawn(settings, stderr)
    print("bridge", proc.pid, flush=True)
    return proc
bridge_process._spawn_bridge = spawn_and_tell
count, side = 200, 256
plan = animation.plan_frames(side, side, [("f", (0, 0), side, side, False)] * count)
request = core.make_request(1.0, {address!r}, [({style!r}, 1.0)])
animation.stylize_frames(lambda frame: bytes([frame.index % 251]) * (side * side * 3), plan,
                         core.PixelFormat(False, False), request,
                         settings=dict(core.load_settings(), python=sys.executable),
                         progress=lambda fraction, words: print("progress", words, flush=True))
"""


def test_gimp_killing_the_plugin_cancels_the_sequence(daemon_process) -> None:
    since = len(daemon_process.log())
    code = PLUGIN.format(
        gimp_plugin=str(REPO / "gimp_plugin"), address=daemon_process.address, style=STYLE
    )
    plugin = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert plugin.stdout is not None
    bridge_pid = None
    for line in plugin.stdout:
        if line.startswith("bridge "):
            bridge_pid = int(line.split()[1])
        if line.startswith("progress Painted frame 2 "):
            plugin.kill()  # SIGKILL, as gimp_plug_in_close(plug_in, kill_it=TRUE)
            break
    plugin.wait(30)
    assert bridge_pid is not None and plugin.returncode == -9
    assert wait_for(lambda: process_gone(bridge_pid))
    stopped = "StylizeSequence code=CANCELLED"
    assert wait_for(lambda: stopped in daemon_process.log()[since:]), daemon_process.log()[-3000:]
    assert "sequence done" not in daemon_process.log()[since:]
