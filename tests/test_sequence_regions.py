"""Regions inside sequences over gRPC: per-style masks and a strength map, set once in
the sequence's setup, apply to every frame (real daemon on loopback, small frames)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLES, style_bytes
from PIL import Image
from stylize.client import library as client
from stylize.client.library import ClientError, RawImage, StylizeClient
from stylize.v1 import stylize_pb2 as pb

W, H = 64, 48
FRAME_BY_FRAME = pb.Consistency(motion=0.0, colour=0.0)  # each result is its frame's own


def _pan(count: int, step: int = 3) -> list[RawImage]:
    photo = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((200, 160)))
    return [
        RawImage(W, H, "RGB8", photo[40 : 40 + H, i * step : i * step + W].tobytes())
        for i in range(count)
    ]


def _gray8(values: np.ndarray) -> pb.Mask:
    data = np.ascontiguousarray(values, np.uint8).tobytes()
    return client.raw_mask(RawImage(W, H, "GRAY8", data))


def _halves() -> tuple[pb.Mask, pb.Mask]:
    left = np.zeros((H, W), np.uint8)
    left[:, : W // 2] = 255
    return _gray8(left), _gray8(255 - left)


def _style(name: str, region: pb.Mask | None = None) -> pb.StyleSource:
    source = client.encoded_style(style_bytes(name))
    return source if region is None else client.in_region(source, region)


def _array(image: RawImage | None) -> np.ndarray:
    assert image is not None
    return np.frombuffer(image.data, np.uint8).reshape(H, W, 3).astype(np.float64)


def _options() -> pb.StylizeOptions:
    return pb.StylizeOptions(output_format=pb.OUTPUT_FORMAT_RAW)


def _sequence(
    address: str, frames: list[RawImage], styles: list[pb.StyleSource], **setup: object
) -> list[np.ndarray]:
    with StylizeClient(address) as daemon:
        results = daemon.stylize_sequence(
            frames, styles, options=_options(), consistency=FRAME_BY_FRAME, **setup
        )
        return [_array(result.image) for result in results]


def _single(
    address: str, frame: RawImage, styles: list[pb.StyleSource], **setup: object
) -> np.ndarray:
    with StylizeClient(address) as daemon:
        return _array(daemon.stylize(frame, styles, options=_options(), **setup).image)


def test_each_style_paints_its_region_in_every_frame(daemon_address: str) -> None:
    frames = _pan(3)
    left, right = _halves()
    styles = [_style("starry_night", left), _style("great_wave", right)]
    sequence = _sequence(daemon_address, frames, styles)
    starry = _sequence(daemon_address, frames, [_style("starry_night")])
    wave = _sequence(daemon_address, frames, [_style("great_wave")])
    inside, outside = slice(0, W // 2 - 8), slice(W // 2 + 8, W)
    for index, frame in enumerate(frames):
        # the masks cover every pixel: each frame is exactly its own Stylize with regions
        alone = _single(daemon_address, frame, styles)
        assert np.abs(sequence[index] - alone).max() <= 1
        # each half is nearer its own style than the other's
        to_starry = np.abs(sequence[index] - starry[index])
        to_wave = np.abs(sequence[index] - wave[index])
        assert to_starry[:, inside].mean() < 0.7 * to_wave[:, inside].mean()
        assert to_wave[:, outside].mean() < 0.7 * to_starry[:, outside].mean()


def test_a_strength_map_holds_in_every_frame(daemon_address: str) -> None:
    frames = _pan(3)
    left, _ = _halves()  # strength 1 on the left, 0 (the content's own vector) on the right
    styles = [_style("starry_night")]
    mapped = _sequence(daemon_address, frames, styles, strength_map=left)
    plain = _sequence(daemon_address, frames, styles)
    for index, frame in enumerate(frames):
        gap = np.abs(mapped[index] - plain[index])
        assert gap[:, W // 2 + 8 :].mean() > 2 * gap[:, : W // 2 - 8].mean()
        # the sequence's content vector is its first frame's, Stylize's the frame's own:
        # the same picture at the first frame, near it at the next ones
        alone = np.abs(mapped[index] - _single(daemon_address, frame, styles, strength_map=left))
        assert alone.max() <= 1 if index == 0 else alone.mean() < 0.3 * gap.mean()


def test_a_mask_of_another_aspect_than_the_frames_is_refused_at_the_first_frame(
    daemon_address: str,
) -> None:
    tall = client.raw_mask(RawImage(W // 2, H, "GRAY8", bytes(W // 2 * H)))
    with StylizeClient(daemon_address) as daemon, pytest.raises(ClientError) as caught:
        list(daemon.stylize_sequence(_pan(2), [_style("starry_night", tall)]))
    assert caught.value.code == "INVALID_ARGUMENT"
    assert caught.value.field == "stylize.styles[0].region", caught.value.field
    assert "aspect" in str(caught.value)
