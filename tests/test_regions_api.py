"""Regions over gRPC (issue 17): masks on styles and a strength map, end to end.

Real daemon on loopback (the default backend), small images. The engine's own exactness
and seam tests are in test_regions.py; here the wire, the job core's checks and the fast
method's wiring: what a client sends is what the engine paints, and every bad mask is
INVALID_ARGUMENT naming its field.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import encode, sample_photo, style_bytes
from PIL import Image
from stylize.client import library as client
from stylize.client.library import ClientError, RawImage, StylizeClient
from stylize.v1 import stylize_pb2 as pb

W, H = 192, 128


def _content() -> bytes:
    return encode(sample_photo(W, H))


def _array(png: bytes | None) -> np.ndarray:
    assert png is not None
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float64)


def _gray8(values: np.ndarray) -> pb.Mask:
    height, width = values.shape
    data = np.ascontiguousarray(values, np.uint8).tobytes()
    return client.raw_mask(RawImage(width, height, "GRAY8", data))


def _float(values: np.ndarray) -> pb.Mask:
    height, width = values.shape
    data = np.ascontiguousarray(values, "<f4").tobytes()
    return client.raw_mask(RawImage(width, height, "GRAYF32", data))


def _left(width: int = W, height: int = H) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[:, : width // 2] = 255
    return mask


def _style(name: str, region: pb.Mask | None = None) -> pb.StyleSource:
    source = client.encoded_style(style_bytes(name))
    return source if region is None else client.in_region(source, region)


def _stylize(address: str, styles: list[pb.StyleSource], **kwargs) -> client.StylizeResult:
    with StylizeClient(address) as daemon:
        return daemon.stylize(_content(), styles, **kwargs)


def _refused(address: str, styles: list[pb.StyleSource], **kwargs) -> ClientError:
    with pytest.raises(ClientError) as caught:
        _stylize(address, styles, **kwargs)
    return caught.value


def test_getinfo_says_regions_are_supported(daemon_address: str) -> None:
    with StylizeClient(daemon_address) as daemon:
        assert "regions" in daemon.info().features


def test_left_and_right_masks_paint_each_side_in_its_style(daemon_address: str) -> None:
    """16 px from the boundary each side is within 16 levels (mean, of 255) of its own style
    alone and more than twice as far from the other's (measured on OpenVINO bf16: 10.7 and
    8.2 levels from its own, 49 and 46 from the other's; the styles alone are 46-50 apart)."""
    alone_a = _array(_stylize(daemon_address, [_style("starry_night")]).encoded)
    alone_b = _array(_stylize(daemon_address, [_style("great_wave")]).encoded)
    # Masks of another size with the content's aspect ratio (resampled), 8-bit raw and PNG.
    half = _left(W // 2, H // 2)
    regions = [
        _style("starry_night", _gray8(half)),
        _style("great_wave", pb.Mask(encoded=encode(Image.fromarray(255 - half)))),
    ]
    result = _stylize(daemon_address, regions)
    assert list(result.vector) == []  # no single vector paints a regions job
    both = _array(result.encoded)
    left, right = slice(0, W // 2 - 16), slice(W // 2 + 16, W)

    def distance(a: np.ndarray, b: np.ndarray, side: slice) -> float:
        return float(np.abs(a[:, side] - b[:, side]).mean())

    assert distance(alone_a, alone_b, left) > 30
    assert distance(both, alone_a, left) < 16
    assert distance(both, alone_b, right) < 16
    assert distance(both, alone_b, left) > 2 * distance(both, alone_a, left)
    assert distance(both, alone_a, right) > 2 * distance(both, alone_b, right)


def test_an_all_ones_mask_is_that_style_alone(daemon_address: str) -> None:
    alone = _stylize(daemon_address, [_style("starry_night")]).encoded
    ones = np.full((H, W), 255, np.uint8)
    masked = _stylize(daemon_address, [_style("starry_night", _gray8(ones))]).encoded
    assert masked == alone


def test_a_constant_strength_map_is_that_strength(daemon_address: str) -> None:
    today = _stylize(daemon_address, [_style("starry_night")], strength=0.5).encoded
    half = np.full((H // 4, W // 4), 0.5, np.float32)
    mapped = _stylize(daemon_address, [_style("starry_night")], strength_map=_float(half)).encoded
    assert mapped == today


def test_a_strength_map_fades_the_style_out(daemon_address: str) -> None:
    """Map 1 on the left, 0 on the right: 16 px from the boundary the left is the style
    (measured 11.5 levels off), the right the content's own rendering (14.5; 55 from the
    style)."""
    alone = _array(_stylize(daemon_address, [_style("starry_night")]).encoded)
    unstyled = _array(_stylize(daemon_address, [_style("starry_night")], strength=0).encoded)
    faded = _array(
        _stylize(daemon_address, [_style("starry_night")], strength_map=_gray8(_left())).encoded
    )
    left, right = slice(0, W // 2 - 16), slice(W // 2 + 16, W)
    assert np.abs(faded[:, left] - alone[:, left]).mean() < 20
    assert np.abs(faded[:, right] - unstyled[:, right]).mean() < 20
    assert np.abs(faded[:, right] - alone[:, right]).mean() > 40


def _nan() -> pb.Mask:
    values = np.ones((H, W), np.float32)
    values[3, 5] = np.nan
    return _float(values)


@pytest.mark.parametrize(
    ("mask", "words"),
    [
        (lambda: _gray8(np.full((H, H), 255, np.uint8)), "not the shape"),  # wrong aspect
        (lambda: _gray8(np.zeros((H, W), np.uint8)), "empty"),  # all zero
        (lambda: _float(np.full((H, W), 1.5, np.float32)), "outside 0..1"),
        (_nan, "NaN"),
        (lambda: pb.Mask(encoded=b"not an image"), "not an image"),
        (
            lambda: pb.Mask(raw=pb.RawImage(width=W, height=H, format=pb.PIXEL_FORMAT_GRAY8)),
            "bytes",
        ),
        (
            lambda: pb.Mask(
                raw=pb.RawImage(
                    width=W, height=H, format=pb.PIXEL_FORMAT_RGB8, data=bytes(W * H * 3)
                )
            ),
            "GRAY8",
        ),
        (lambda: pb.Mask(), "empty"),
    ],
    ids=["aspect", "all-zero", "range", "nan", "undecodable", "raw-size", "colour-raw", "unset"],
)
def test_bad_regions_are_refused_naming_the_style(daemon_address: str, mask, words: str) -> None:
    styles = [_style("starry_night"), _style("great_wave", mask())]
    error = _refused(daemon_address, styles)
    assert error.code == "INVALID_ARGUMENT", error
    assert error.field == "styles[1].region", error
    assert words in str(error), error


def test_a_bad_strength_map_is_refused_naming_it(daemon_address: str) -> None:
    wrong_aspect = _gray8(np.full((H, H), 255, np.uint8))
    error = _refused(daemon_address, [_style("starry_night")], strength_map=wrong_aspect)
    assert (error.code, error.field) == ("INVALID_ARGUMENT", "strength_map")


def test_a_style_region_is_refused_with_the_fast_method(daemon_address: str) -> None:
    source = _style("starry_night")
    source.style_region.CopyFrom(_gray8(np.full((H, W), 255, np.uint8)))
    error = _refused(daemon_address, [source])
    assert (error.code, error.field) == ("INVALID_ARGUMENT", "styles[0].style_region")
    assert "optimisation" in str(error)
