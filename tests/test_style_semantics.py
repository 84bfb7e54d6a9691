"""What the user sees, over real gRPC: mixing, strength, alpha, modes, sizes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import decode_png, encode, mean_abs_diff, sample_photo, style_bytes
from PIL import Image
from stylize.client import library as client
from stylize.client.library import RawImage, StylizeClient
from stylize.v1 import stylize_pb2 as pb


@pytest.fixture(scope="module")
def daemon(daemon_address: str):
    with StylizeClient(daemon_address) as c:
        yield c


@pytest.fixture(scope="module")
def content_png() -> bytes:
    return encode(sample_photo(96, 64))


def _pixels(result: client.StylizeResult) -> np.ndarray:
    assert result.encoded is not None
    return np.asarray(decode_png(result.encoded))


def _stylize(daemon: StylizeClient, content: bytes, styles, strength: float = 1.0) -> np.ndarray:
    return _pixels(daemon.stylize(content, styles, strength=strength))


def test_result_is_stylized_and_keeps_size(daemon: StylizeClient, content_png: bytes) -> None:
    out = _stylize(daemon, content_png, [client.encoded_style(style_bytes())])
    assert out.shape == (64, 96, 3)
    assert mean_abs_diff(out, np.asarray(sample_photo(96, 64))) > 20


def test_weights_one_and_zero_give_the_first_style(
    daemon: StylizeClient, content_png: bytes
) -> None:
    first = client.encoded_style(style_bytes("starry_night"))
    second = client.encoded_style(style_bytes("great_wave"))
    alone = _stylize(daemon, content_png, [first])
    mixed = _stylize(
        daemon,
        content_png,
        [
            client.encoded_style(style_bytes("starry_night"), 1.0),
            client.encoded_style(style_bytes("great_wave"), 0.0),
        ],
    )
    other = _stylize(daemon, content_png, [second])
    assert mean_abs_diff(mixed, alone) < 0.01
    assert mean_abs_diff(mixed, other) > 5  # the two styles really differ


def test_equal_weights_give_the_mean_vector(daemon: StylizeClient, content_png: bytes) -> None:
    a = daemon.predict_style(client.encoded_style(style_bytes("starry_night")))
    b = daemon.predict_style(client.encoded_style(style_bytes("great_wave")))
    mean = (np.asarray(a, np.float64) + np.asarray(b, np.float64)) / 2
    mixed = daemon.stylize(
        content_png,
        [
            client.encoded_style(style_bytes("starry_night"), 0.5),
            client.encoded_style(style_bytes("great_wave"), 0.5),
        ],
    )
    np.testing.assert_allclose(mixed.vector, mean, atol=1e-5)
    by_vector = _stylize(daemon, content_png, [client.vector_style(mean.tolist())])
    assert mean_abs_diff(_pixels(mixed), by_vector) < 0.01
    assert (
        mean_abs_diff(_pixels(mixed), _stylize(daemon, content_png, [client.vector_style(a)])) > 2
    )


def test_weights_are_normalised(daemon: StylizeClient, content_png: bytes) -> None:
    a = daemon.stylize(
        content_png, [client.named_style("starry_night", 3), client.named_style("great_wave", 1)]
    )
    b = daemon.stylize(
        content_png,
        [client.named_style("starry_night", 0.75), client.named_style("great_wave", 0.25)],
    )
    np.testing.assert_allclose(a.vector, b.vector, atol=1e-6)


def test_strength_zero_is_the_contents_own_style(daemon: StylizeClient, content_png: bytes) -> None:
    own = daemon.predict_style(client.encoded_style(content_png))
    at_zero = daemon.stylize(content_png, [client.named_style("starry_night")], strength=0.0)
    np.testing.assert_allclose(at_zero.vector, own, atol=1e-5)
    by_own_vector = _stylize(daemon, content_png, [client.vector_style(own)])
    assert mean_abs_diff(_pixels(at_zero), by_own_vector) < 0.01


def test_strength_interpolates_vectors(daemon: StylizeClient, content_png: bytes) -> None:
    own = np.asarray(daemon.predict_style(client.encoded_style(content_png)))
    style = np.asarray(daemon.predict_style(client.named_style("starry_night")))
    half = daemon.stylize(content_png, [client.named_style("starry_night")], strength=0.3)
    np.testing.assert_allclose(half.vector, 0.3 * style + 0.7 * own, atol=1e-5)


def test_alpha_passes_through_unchanged(daemon: StylizeClient) -> None:
    rgb = np.asarray(sample_photo(48, 40))
    alpha = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (40, 1))[..., None]
    data = np.concatenate([rgb, alpha], axis=2).tobytes()
    result = daemon.stylize(RawImage(48, 40, "RGBA8", data), [client.named_style("great_wave")])
    assert result.image is not None and result.image.format == "RGBA8"
    out = np.frombuffer(result.image.data, np.uint8).reshape(40, 48, 4)
    np.testing.assert_array_equal(out[..., 3], alpha[..., 0])
    assert mean_abs_diff(out[..., :3], rgb) > 20


def test_gray_content_gives_gray_result(daemon: StylizeClient) -> None:
    gray = np.asarray(sample_photo(40, 36).convert("L"))
    result = daemon.stylize(
        RawImage(40, 36, "GRAY8", gray.tobytes()), [client.named_style("great_wave")]
    )
    assert result.image is not None and result.image.format == "GRAY8"
    assert len(result.image.data) == 40 * 36
    assert mean_abs_diff(np.frombuffer(result.image.data, np.uint8).reshape(36, 40), gray) > 10


@pytest.mark.parametrize("size", [(17, 16), (53, 37), (130, 18)])
def test_any_size_comes_back_at_the_same_size(daemon: StylizeClient, size: tuple[int, int]) -> None:
    width, height = size
    result = daemon.stylize(encode(sample_photo(width, height)), [client.named_style("shipwreck")])
    assert decode_png(result.encoded).size == (width, height)


def test_full_resolution_by_default(daemon: StylizeClient) -> None:
    """A 768-px photo keeps far more detail than the peer's 384 px + upscale would."""
    content = encode(sample_photo(768, 512))
    full = _pixels(daemon.stylize(content, [client.named_style("starry_night")])).astype(np.float32)
    capped = _pixels(
        daemon.stylize(
            content, [client.named_style("starry_night")], options=pb.StylizeOptions(max_side=384)
        )
    ).astype(np.float32)

    def detail(a: np.ndarray) -> float:
        return float(np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=0)).mean())

    assert detail(full) > 1.3 * detail(capped)


def test_preserve_colors_keeps_the_contents_chroma(
    daemon: StylizeClient, content_png: bytes
) -> None:
    options = pb.StylizeOptions(preserve_colors=True)
    kept = decode_png(
        daemon.stylize(content_png, [client.named_style("great_wave")], options=options).encoded
    )
    plain = decode_png(daemon.stylize(content_png, [client.named_style("great_wave")]).encoded)
    source = decode_png(content_png)

    def chroma(image: Image.Image) -> np.ndarray:
        return np.asarray(image.convert("YCbCr"))[..., 1:]

    assert mean_abs_diff(chroma(kept), chroma(source)) < 3
    assert mean_abs_diff(chroma(plain), chroma(source)) > 3 * mean_abs_diff(
        chroma(kept), chroma(source)
    )
