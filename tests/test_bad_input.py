"""Bad input over real gRPC: each gets a clear status and message; the daemon keeps serving."""

from __future__ import annotations

import struct
import zlib

import grpc
import numpy as np
import pytest
from conftest import decode_png, encode, sample_photo, style_bytes, wait_serving
from PIL import Image
from stylize.client import library as client
from stylize.client.library import ClientError, RawImage, StylizeClient
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc


@pytest.fixture(scope="module")
def daemon(daemon_address: str):
    with StylizeClient(daemon_address) as c:
        yield c


@pytest.fixture(autouse=True)
def still_serving(daemon_address: str):
    yield
    wait_serving(daemon_address, timeout=30)  # alive and SERVING (not a timing check)


GOOD_STYLE = client.named_style("starry_night")


def _fails(call, code: str, *words: str) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value
    assert error.code == code, error
    for word in words:
        assert word.lower() in error.message.lower(), error.message
    return error


def png_with_declared_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but holds almost no data (a 'bomb')."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


# -- content images --------------------------------------------------------------------


def test_corrupt_content_bytes(daemon: StylizeClient) -> None:
    _fails(
        lambda: daemon.stylize(b"this is not an image at all", [GOOD_STYLE]),
        "INVALID_ARGUMENT",
        "not an image in an accepted format",
    )


def test_truncated_png(daemon: StylizeClient) -> None:
    data = encode(sample_photo(64, 64))
    _fails(
        lambda: daemon.stylize(data[: len(data) // 2], [GOOD_STYLE]),
        "INVALID_ARGUMENT",
        "truncated",
    )


def test_empty_content(daemon: StylizeClient) -> None:
    _fails(lambda: daemon.stylize(b"", [GOOD_STYLE]), "INVALID_ARGUMENT", "empty")


def test_zero_by_zero_raw_image(daemon: StylizeClient) -> None:
    _fails(
        lambda: daemon.stylize(RawImage(0, 0, "RGB8", b""), [GOOD_STYLE]),
        "INVALID_ARGUMENT",
        "0x0",
        "at least",
    )


def test_one_by_n_image(daemon: StylizeClient) -> None:
    data = encode(Image.new("RGB", (1, 300), (200, 10, 10)))
    _fails(lambda: daemon.stylize(data, [GOOD_STYLE]), "INVALID_ARGUMENT", "1x300", "at least 16")


def test_raw_buffer_length_mismatch(daemon: StylizeClient) -> None:
    content = RawImage(32, 32, "RGBA8", b"\0" * (32 * 32 * 3))
    _fails(
        lambda: daemon.stylize(content, [GOOD_STYLE]), "INVALID_ARGUMENT", "needs 4,096", "3,072"
    )


def test_decompression_bomb(daemon: StylizeClient) -> None:
    bomb = png_with_declared_size(100_000, 100_000)
    _fails(lambda: daemon.stylize(bomb, [GOOD_STYLE]), "RESOURCE_EXHAUSTED", "100000x100000")


def test_bomb_as_style_image(daemon: StylizeClient) -> None:
    bomb = png_with_declared_size(60_000, 60_000)
    _fails(
        lambda: daemon.predict_style(client.encoded_style(bomb)),
        "RESOURCE_EXHAUSTED",
        "60000x60000",
    )


def test_cmyk_is_converted_to_rgb(daemon: StylizeClient) -> None:
    from stylize.engine import images

    cmyk = Image.new("CMYK", (40, 32))
    cmyk.paste((0, 255, 255, 0), (0, 0, 20, 32))  # pure red on the left
    cmyk.paste((0, 0, 0, 255), (20, 0, 40, 32))  # black on the right
    decoded = images.decode(encode(cmyk, "TIFF"), images.ImageLimits(), "content")
    assert decoded.mode is images.PixelMode.RGB
    assert tuple(decoded.array[0, 0]) == (255, 0, 0) and tuple(decoded.array[0, 39]) == (0, 0, 0)
    out = decode_png(daemon.stylize(encode(cmyk, "JPEG"), [GOOD_STYLE]).encoded)
    assert (out.mode, out.size) == ("RGB", (40, 32))


def test_sixteen_bit_gray_keeps_its_precision(daemon: StylizeClient) -> None:
    from stylize.engine import images

    values = np.arange(40 * 32, dtype=np.uint16).reshape(32, 40) * 51  # 0 .. 65229
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    decoded = images.decode(encode(image), images.ImageLimits(), "content")
    assert decoded.mode is images.PixelMode.GRAY and decoded.depth is images.Depth.U16
    np.testing.assert_array_equal(decoded.array[..., 0], values)
    out = decode_png(daemon.stylize(encode(image), [GOOD_STYLE]).encoded)
    assert (out.mode, out.size) == ("I;16", (40, 32))  # a 16-bit grey PNG back


def test_palette_with_transparency_keeps_alpha(daemon: StylizeClient) -> None:
    image = sample_photo(40, 32).convert("P", palette=Image.ADAPTIVE, colors=16)
    image.info["transparency"] = 0
    out = decode_png(daemon.stylize(encode(image, transparency=0), [GOOD_STYLE]).encoded)
    expected_alpha = np.where(np.asarray(image) == 0, 0, 255)
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[..., 3], expected_alpha)


def test_gray_with_alpha_stays_gray_with_alpha(daemon: StylizeClient) -> None:
    image = sample_photo(40, 32).convert("LA")
    out = decode_png(daemon.stylize(encode(image), [GOOD_STYLE]).encoded)
    assert out.mode == "LA"
    np.testing.assert_array_equal(np.asarray(out)[..., 1], np.asarray(image)[..., 1])


def test_float_gray_tiff_is_accepted_and_nan_refused(daemon: StylizeClient) -> None:
    values = np.linspace(0.0, 1.5, 32 * 32, dtype=np.float32).reshape(32, 32)
    out = decode_png(daemon.stylize(encode(Image.fromarray(values), "TIFF"), [GOOD_STYLE]).encoded)
    assert (out.mode, out.size) == ("I;16", (32, 32))  # float content: a 16-bit PNG
    values[3, 5] = np.nan
    data = encode(Image.fromarray(values), "TIFF")
    _fails(lambda: daemon.stylize(data, [GOOD_STYLE]), "INVALID_ARGUMENT", "NaN or infinite")


def test_exif_orientation_is_honoured(daemon: StylizeClient) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = encode(sample_photo(64, 32), "JPEG", exif=exif.tobytes())
    out = decode_png(daemon.stylize(data, [GOOD_STYLE]).encoded)
    assert out.size == (32, 64)


# -- styles ------------------------------------------------------------------------------


def test_unknown_named_style(daemon: StylizeClient) -> None:
    content = encode(sample_photo(32, 32))
    _fails(
        lambda: daemon.stylize(content, [client.named_style("no_such_style")]),
        "NOT_FOUND",
        "no_such_style",
        "known styles",
    )


@pytest.mark.parametrize("length", [0, 99, 101])
def test_wrong_vector_length(daemon: StylizeClient, length: int) -> None:
    content = encode(sample_photo(32, 32))
    _fails(
        lambda: daemon.stylize(content, [client.vector_style([0.1] * length)]),
        "INVALID_ARGUMENT",
        f"{length} values",
        "100",
    )


def test_corrupt_style_image(daemon: StylizeClient) -> None:
    content = encode(sample_photo(32, 32))
    _fails(
        lambda: daemon.stylize(content, [client.encoded_style(b"\xff\xd8\xff garbage")]),
        "INVALID_ARGUMENT",
        "style 1",
    )


@pytest.mark.parametrize(
    ("weights", "words"),
    [
        ((1.0, -0.5), ("weight -0.5",)),
        ((float("nan"), 1.0), ("weight nan",)),
        ((0.0, 0.0), ("all style weights are zero",)),
    ],
)
def test_bad_weights(
    daemon: StylizeClient, weights: tuple[float, float], words: tuple[str, ...]
) -> None:
    content = encode(sample_photo(32, 32))
    styles = [
        client.named_style("starry_night", weights[0]),
        client.named_style("great_wave", weights[1]),
    ]
    _fails(lambda: daemon.stylize(content, styles), "INVALID_ARGUMENT", *words)


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("inf")])
def test_strength_out_of_range(daemon: StylizeClient, strength: float) -> None:
    content = encode(sample_photo(32, 32))
    _fails(
        lambda: daemon.stylize(content, [GOOD_STYLE], strength=strength),
        "INVALID_ARGUMENT",
        "strength",
    )


def test_no_style(daemon: StylizeClient) -> None:
    _fails(lambda: daemon.stylize(encode(sample_photo(32, 32)), []), "INVALID_ARGUMENT", "no style")


# -- protocol misuse (raw stub) ------------------------------------------------------------


def _raw_call(address: str, requests: list[pb.StylizeRequest]) -> grpc.RpcError:
    with grpc.insecure_channel(address) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.Stylize(iter(requests), timeout=30))
    return caught.value


def test_chunk_before_setup(daemon_address: str) -> None:
    error = _raw_call(daemon_address, [pb.StylizeRequest(content_chunk=b"abc")])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "first message" in error.details()


def test_fewer_bytes_than_declared(daemon_address: str) -> None:
    header = pb.ContentHeader(encoded=pb.EncodedKind(), total_bytes=1000)
    setup = pb.StylizeSetup(content=header, styles=[GOOD_STYLE])
    error = _raw_call(
        daemon_address, [pb.StylizeRequest(setup=setup), pb.StylizeRequest(content_chunk=b"x" * 10)]
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "10 of the declared 1,000" in error.details()


def test_raw_header_mismatch_is_refused_before_upload(daemon_address: str) -> None:
    raw = pb.RawImage(width=64, height=64, format=pb.PIXEL_FORMAT_RGB8)
    setup = pb.StylizeSetup(content=pb.ContentHeader(raw=raw, total_bytes=5), styles=[GOOD_STYLE])
    error = _raw_call(daemon_address, [pb.StylizeRequest(setup=setup)])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "needs 12,288 bytes" in error.details()


def test_unspecified_pixel_format(daemon_address: str) -> None:
    raw = pb.RawImage(width=16, height=16)
    setup = pb.StylizeSetup(content=pb.ContentHeader(raw=raw, total_bytes=768), styles=[GOOD_STYLE])
    error = _raw_call(
        daemon_address,
        [pb.StylizeRequest(setup=setup), pb.StylizeRequest(content_chunk=b"\0" * 768)],
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pixel format" in error.details()


def test_daemon_still_answers_after_bad_input(daemon: StylizeClient) -> None:
    result = daemon.stylize(encode(sample_photo(32, 32)), [client.encoded_style(style_bytes())])
    assert decode_png(result.encoded).size == (32, 32)
