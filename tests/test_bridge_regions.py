"""Regions through the bridge (protocol 6): the plug-in core's masks (stylize_gimp.regions)
framed after the style files, turned into stylize.v1 Masks by the client library, and
painted by a real daemon over loopback; refusals named for GIMP."""

from __future__ import annotations

import io
import struct
import sys

import numpy as np
import pytest
from conftest import REPO, STYLES, run_bridge, sample_photo
from stylize.client import bridge
from stylize.client import library as client

sys.path.insert(0, str(REPO / "gimp_plugin"))
from stylize_gimp import core, protocol

W, H = 96, 64
A, B = str(STYLES / "starry_night.jpg"), str(STYLES / "great_wave.jpg")
RGB = core.PixelFormat(False, False)
LEFT = core.Mask(W, H, "8", bytes(255 if x < W // 2 else 0 for _ in range(H) for x in range(W)))


def settings(address: str) -> dict:
    return {
        "python": sys.executable,
        "pythonpath": "",
        "address": address,
        "timeout": 120.0,
        "connect_timeout": 10.0,
    }


def paint(address: str, styles, masks=None, strength_map=None) -> np.ndarray:
    """The photo stylized through the plug-in core, the bridge and the daemon."""
    request = core.make_request(1.0, "", [(s, 1.0) for s in styles])
    request.masks = list(masks or [None] * len(styles))
    request.strength_map = strength_map
    photo = sample_photo(W, H).tobytes()
    out = core.stylize(photo, W, H, RGB, request, settings(address))
    return np.frombuffer(out, np.uint8).reshape(H, W, 3).astype(np.float64)


def constant(depth: str, value: float) -> core.Mask:
    sample = {
        "8": struct.pack("<B", int(value * 255)),
        "16": struct.pack("<H", int(value * 65535)),
        "float": struct.pack("<f", value),
    }[depth]
    return core.Mask(W, H, depth, sample * (W * H))


def test_a_inside_b_outside_paints_each_side_in_its_style(daemon_address: str) -> None:
    alone_a, alone_b = paint(daemon_address, [A]), paint(daemon_address, [B])
    both = paint(daemon_address, [A, B], [LEFT, LEFT.inverted()])
    left, right = np.s_[:, : W // 2 - 8], np.s_[:, W // 2 + 8 :]  # away from the boundary

    def diff(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.abs(x - y).mean())

    assert diff(both[left], alone_a[left]) < 0.5 * diff(both[left], alone_b[left])
    assert diff(both[right], alone_b[right]) < 0.5 * diff(both[right], alone_a[right])


@pytest.mark.parametrize("depth", ["8", "16", "float"])
def test_a_white_region_and_a_full_strength_map_change_nothing(
    daemon_address: str, depth: str
) -> None:
    """Every precision GIMP gives travels: all-white = no region; a map of 1 = strength 1."""
    plain = paint(daemon_address, [A])
    white = constant(depth, 1.0)
    assert np.array_equal(paint(daemon_address, [A], [white], white), plain)


def test_a_half_strength_map_is_half_the_strength(daemon_address: str) -> None:
    request = core.make_request(0.5, "", [(A, 1.0)])
    photo = sample_photo(W, H).tobytes()
    half = np.frombuffer(
        core.stylize(photo, W, H, RGB, request, settings(daemon_address)), np.uint8
    )
    mapped = paint(daemon_address, [A], strength_map=constant("float", 0.5))
    assert np.abs(mapped.ravel() - half).mean() < 1.0


def test_an_empty_region_is_the_daemons_refusal_naming_the_style(daemon_address: str) -> None:
    black = constant("8", 0.0)
    with pytest.raises(core.StylizeError) as info:
        paint(daemon_address, [A, B], [LEFT, black])
    message = core.error_text(info.value)
    assert "the region of style 2 (where it paints)" in message and "0 everywhere" in message
    assert "The image was not changed" in message


def test_a_region_of_another_shape_is_refused(daemon_address: str) -> None:
    tall = core.Mask(16, 64, "8", b"\xff" * 16 * 64)
    with pytest.raises(core.StylizeError, match="the region of style 1"):
        paint(daemon_address, [A], [tall])
    with pytest.raises(core.StylizeError, match="the strength map: the strength map is 16x64"):
        paint(daemon_address, [A], strength_map=tall)


# --- framing and the bridge's own checks (no daemon) --------------------------------------


def request_with(masks_header: dict, blobs: list[bytes], **extra) -> bytes:
    pixels = bytes(W * H * 3)
    header = {
        "address": "127.0.0.1:1",
        "strength": 1.0,
        "content": {"width": W, "height": H, "format": "RGB8", "size": len(pixels)},
        "styles": [{"name": "a.jpg", "weight": 1.0, "size": 1, **masks_header}],
        **extra,
    }
    return protocol.encode_request(header, [pixels, b"a", *blobs])


def test_masks_follow_the_style_files_and_reach_the_client_as_masks() -> None:
    region = {"width": 4, "height": 2, "format": "GRAY16", "size": 16}
    strength = {"width": 2, "height": 1, "format": "GRAYF32", "size": 8}
    data = request_with({"region": region}, [b"r" * 16, b"s" * 8], strength_map=strength)
    header, content, styles = bridge.read_request(io.BytesIO(data))
    assert styles == [b"a"]
    job = bridge.parse_job(header, content, styles)
    assert job.styles[0].region.raw.data == b"r" * 16
    assert job.styles[0].region.raw.format == client.FORMATS["GRAY16"]
    assert job.strength_map.raw.data == b"s" * 8 and job.strength_map.raw.width == 2
    (source,) = bridge._sources(job)
    assert source.region == job.styles[0].region and source.encoded == b"a"


def test_a_truncated_mask_is_refused() -> None:
    region = {"width": 4, "height": 2, "format": "GRAY8", "size": 8}
    data = request_with({"region": region}, [b"r" * 8])[:-3]
    with pytest.raises(bridge.BridgeError, match="the region of style 1 has 5 of 8 bytes"):
        bridge.read_request(io.BytesIO(data))


def test_a_mask_in_a_colour_format_is_refused_by_the_librarys_rule() -> None:
    region = {"width": 2, "height": 2, "format": "RGB8", "size": 12}
    done = run_bridge(request_with({"region": region}, [bytes(12)]))
    (event,) = [e for e in protocol.read_events(io.BytesIO(done.stdout)) if e["event"] == "error"]
    assert event["code"] == "INVALID_ARGUMENT"
    assert (
        event["message"] == "the region of style 1: a mask is GRAY8, GRAY16 or GRAYF32, not 'RGB8'"
    )


def test_a_sequence_with_regions_is_refused() -> None:
    header = {
        "address": "x:1",
        "strength": 1.0,
        "request": "sequence",
        "frames": {"count": 1, "width": W, "height": H, "format": "RGB8", "size": W * H * 3},
        "styles": [
            {
                "name": "a",
                "weight": 1.0,
                "size": 1,
                "region": {"width": 1, "height": 1, "format": "GRAY8", "size": 1},
            }
        ],
    }
    read, _, styles = bridge.read_request(io.BytesIO(protocol.encode_request(header, [b"a", b"m"])))
    with pytest.raises(bridge.BridgeError, match="not to a sequence"):
        bridge.parse_sequence(read, styles)


def test_the_plugin_refuses_to_frame_a_mask_it_did_not_describe() -> None:
    header = {"content": {"size": 1}, "styles": [{"size": 1, "region": {"size": 4}}]}
    with pytest.raises(ValueError, match="do not match"):
        protocol.encode_request(header, [b"c", b"s"])
