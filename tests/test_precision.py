"""16-bit and float pixels end to end over real gRPC: kept, not quantised, bad ones refused."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from conftest import sample_photo
from stylize.client import library as client
from stylize.client.library import ClientError, RawImage, StylizeClient
from stylize.engine import images
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

STYLE = client.named_style("starry_night")
LIMITS = images.ImageLimits()


@pytest.fixture(scope="module")
def daemon(daemon_address: str):
    with StylizeClient(daemon_address) as c:
        yield c


def photo_unit(width: int = 96, height: int = 64) -> np.ndarray:
    """The sample photo as float32 RGB in 0..1, smoothed so it has values between 8-bit levels."""
    rgb = np.asarray(sample_photo(width, height), np.float32) / 255.0
    return (rgb + np.roll(rgb, 1, axis=1) + np.roll(rgb, 1, axis=0)) / 3.0


def with_alpha(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.concatenate([rgb, alpha[..., None]], axis=2)


def off_8bit_levels(values: np.ndarray) -> float:
    """Share of 16-bit samples inside 1..65534 that are not an 8-bit level scaled up (k * 257)."""
    inside = values[(values > 0) & (values < 65535)].astype(np.int64)
    return float(np.mean(inside % 257 != 0))


def stylize_raw(daemon: StylizeClient, array: np.ndarray, fmt: str, **kwargs) -> np.ndarray:
    height, width = array.shape[:2]
    dtype = {"8": "u1", "16": "<u2", "F32": "<f4"}[fmt.removeprefix("GRAY").lstrip("RGBA")]
    content = RawImage(width, height, fmt, array.astype(dtype).tobytes())
    result = daemon.stylize(content, [STYLE], **kwargs)
    assert result.image is not None and result.image.format == fmt
    out = np.frombuffer(result.image.data, dtype).reshape(height, width, -1)
    return out.astype(dtype.lstrip("<"))


def test_rgb16_comes_back_16_bit_and_not_quantised(daemon: StylizeClient) -> None:
    unit = photo_unit()
    out16 = stylize_raw(daemon, np.rint(unit * 65535), "RGB16")
    out8 = stylize_raw(daemon, np.rint(unit * 255), "RGB8")
    assert out16.dtype == np.uint16 and out16.shape == (64, 96, 3)
    assert off_8bit_levels(out16) > 0.9  # the network's float output, not 8-bit levels
    # the same picture as the 8-bit path (bf16 inference and input rounding aside)
    assert np.abs(out16 / 65535.0 - out8 / 255.0).mean() < 0.01


def test_rgba16_alpha_passes_through_exactly(daemon: StylizeClient) -> None:
    alpha = (np.arange(64 * 96).reshape(64, 96) * 7919 % 65536).astype(np.uint16)
    content = with_alpha(np.rint(photo_unit() * 65535), alpha)
    out = stylize_raw(daemon, content, "RGBA16")
    np.testing.assert_array_equal(out[..., 3], alpha)
    assert off_8bit_levels(out[..., :3]) > 0.9


def test_graya16_stays_gray_with_its_alpha(daemon: StylizeClient) -> None:
    gray = np.rint(photo_unit().mean(axis=2) * 65535)
    alpha = np.full((64, 96), 12345)
    out = stylize_raw(daemon, np.stack([gray, alpha], axis=2), "GRAYA16")
    assert out.shape == (64, 96, 2)
    np.testing.assert_array_equal(out[..., 1], alpha)


def test_float_hdr_keeps_the_part_above_one(daemon: StylizeClient) -> None:
    unit = photo_unit()
    hdr = unit.copy()
    hdr[:16, :16] += 3.0  # a highlight far above white
    hdr[40:, 80:] -= 0.25  # and some values below black
    alpha = np.linspace(0.0, 1.0, 64 * 96, dtype=np.float32).reshape(64, 96)
    out = stylize_raw(daemon, with_alpha(hdr, alpha), "RGBAF32")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 3], alpha)  # float alpha, bit for bit
    painted = out[..., :3] - (hdr - np.clip(hdr, 0.0, 1.0))  # what the network painted
    assert painted.min() >= 0.0 and painted.max() <= 1.0
    assert out[:16, :16, :3].min() > 2.0  # 1.0 + 3.0 - clipped 1.0: still a highlight
    assert np.abs(painted - unit).mean() > 0.05  # and it was painted


def test_preserve_colors_and_colour_match_at_16_bit(daemon: StylizeClient) -> None:
    content = np.rint(photo_unit() * 65535)
    kept = stylize_raw(daemon, content, "RGB16", options=pb.StylizeOptions(preserve_colors=True))
    matched = stylize_raw(
        daemon, content, "RGB16", options=pb.StylizeOptions(color_match=pb.COLOR_MATCH_STYLE)
    )
    plain = stylize_raw(daemon, content, "RGB16")
    for out in (kept, matched):
        assert off_8bit_levels(out) > 0.9
        assert np.abs(out.astype(float) - plain).mean() > 500  # the option did something


def test_sixteen_bit_png_gives_a_sixteen_bit_png(daemon: StylizeClient) -> None:
    import cv2

    rgb = np.rint(photo_unit() * 65535).astype(np.uint16)
    _, png = cv2.imencode(".png", rgb[..., ::-1])
    result = daemon.stylize(png.tobytes(), [STYLE])
    assert result.encoded is not None
    out = images.decode(result.encoded, LIMITS, "result")
    assert (out.mode, out.depth, out.width, out.height) == (
        images.PixelMode.RGB,
        images.Depth.U16,
        96,
        64,
    )
    assert off_8bit_levels(out.array) > 0.9


def test_sixteen_bit_tiff_keeps_its_precision() -> None:
    import cv2

    rgba = np.rint(with_alpha(photo_unit(), photo_unit()[..., 0]) * 65535).astype(np.uint16)
    _, tiff = cv2.imencode(".tiff", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    decoded = images.decode(tiff.tobytes(), LIMITS, "content")
    assert decoded.mode is images.PixelMode.RGBA
    np.testing.assert_array_equal(decoded.array, rgba)


# -- bad input ------------------------------------------------------------------------------


def _fails(call, *words: str) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.code == "INVALID_ARGUMENT", caught.value
    for word in words:
        assert word in caught.value.message, caught.value.message
    return caught.value


@pytest.mark.parametrize("fmt", ["RGB16", "GRAYA16", "RGBF32", "GRAYAF32"])
def test_wrong_buffer_size_for_deep_formats(daemon: StylizeClient, fmt: str) -> None:
    needed = 32 * 32 * client.BYTES_PER_PIXEL[fmt]
    error = _fails(
        lambda: daemon.stylize(RawImage(32, 32, fmt, b"\0" * (32 * 32 * 3)), [STYLE]),
        f"needs {needed:,} bytes",
    )
    assert error.field == "content.total_bytes"


def test_a_raw_deep_style_of_the_wrong_size(daemon: StylizeClient) -> None:
    style = pb.StyleSource(
        raw=pb.RawImage(width=32, height=32, format=pb.PIXEL_FORMAT_RGB16, data=b"\0" * 3072)
    )
    error = _fails(lambda: daemon.predict_style(style), "6,144")
    assert error.field == "style"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinite_floats_are_refused(daemon: StylizeClient, bad: float) -> None:
    values = photo_unit(32, 32)
    values[7, 5, 1] = bad
    error = _fails(
        lambda: daemon.stylize(RawImage(32, 32, "RGBF32", values.astype("<f4").tobytes()), [STYLE]),
        "1 NaN or infinite",
        "x=5, y=7, channel 1",
    )
    assert error.field == "content"


def test_float_samples_are_little_endian() -> None:
    values = np.linspace(0.0, 1.0, 16 * 16, dtype=np.float32).reshape(16, 16, 1)
    big = values.astype(">f4").tobytes()  # read as little-endian: NaN, huge and tiny values
    with pytest.raises(images.InvalidInputError, match="NaN or infinite"):
        images.from_raw(big, 16, 16, images.PixelMode.GRAY, LIMITS, "content", images.Depth.F32)
    little = images.from_raw(
        values.astype("<f4").tobytes(), 16, 16, images.PixelMode.GRAY, LIMITS, "c", images.Depth.F32
    )
    np.testing.assert_array_equal(little.array, values)


@pytest.mark.parametrize("number", [13, 14, 99])
def test_unknown_pixel_format_numbers(daemon_address: str, number: int) -> None:
    raw = pb.RawImage(width=16, height=16, format=number)  # type: ignore[arg-type]
    setup = pb.StylizeSetup(content=pb.ContentHeader(raw=raw, total_bytes=768), styles=[STYLE])
    with grpc.insecure_channel(daemon_address) as channel:
        call = stylize_pb2_grpc.StyleTransferStub(channel).Stylize(
            iter([pb.StylizeRequest(setup=setup)]), timeout=60
        )
        with pytest.raises(grpc.RpcError) as caught:
            list(call)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"pixel format {number} is not one of RGB8" in caught.value.details()
    assert "GRAYAF32" in caught.value.details()
