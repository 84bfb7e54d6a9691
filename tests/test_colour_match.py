"""Colour matching (Gatys et al. 2017): the statistics move where they should, end to end."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import STYLES, decode_png, encode, sample_photo
from PIL import Image
from stylize.client import library as client
from stylize.client.library import ClientError, StylizeClient
from stylize.engine import colour_transfer
from stylize.v1 import stylize_pb2 as pb


def lab_mean(image: Image.Image) -> np.ndarray:
    return colour_transfer.to_lab(np.asarray(image.convert("RGB"))).reshape(-1, 3).mean(axis=0)


def test_match_gives_the_target_mean_and_covariance() -> None:
    source = np.asarray(sample_photo(64, 48))
    target_image = np.asarray(Image.open(STYLES / "great_wave.jpg").convert("RGB").resize((64, 48)))
    target = colour_transfer.colour_stats(target_image)
    matched = colour_transfer.colour_stats(colour_transfer.match(source, target))
    assert np.abs(matched.mean - target.mean).max() < 2.0  # Lab units; 8-bit rounding, gamut
    relative = (
        np.abs(matched.covariance - target.covariance).max() / np.abs(target.covariance).max()
    )
    assert relative < 0.1


def test_matching_an_image_to_itself_changes_little() -> None:
    rgb = np.asarray(sample_photo(64, 48))
    same = colour_transfer.match(rgb, colour_transfer.colour_stats(rgb))
    assert np.abs(same.astype(int) - rgb.astype(int)).mean() < 1.5


def test_mixed_stats_of_one_image_is_that_image() -> None:
    stats = colour_transfer.colour_stats(np.asarray(sample_photo(32, 32)))
    mixed = colour_transfer.mixed_stats([stats, stats], [1.0, 3.0])
    np.testing.assert_allclose(mixed.mean, stats.mean)
    np.testing.assert_allclose(mixed.covariance, stats.covariance)


def stylize(address: str, match: int, **options: object) -> Image.Image:
    with StylizeClient(address) as c:
        result = c.stylize(
            encode(sample_photo(96, 64)),
            [client.named_style("great_wave")],
            options=pb.StylizeOptions(color_match=match, **options),  # type: ignore[arg-type]
        )
    assert result.encoded is not None
    return decode_png(result.encoded)


def test_content_and_style_palettes(daemon_address: str) -> None:
    photo = lab_mean(sample_photo(96, 64))
    wave = lab_mean(Image.open(STYLES / "great_wave.jpg"))
    plain = lab_mean(stylize(daemon_address, pb.COLOR_MATCH_NONE))
    kept = lab_mean(stylize(daemon_address, pb.COLOR_MATCH_CONTENT))
    styled = lab_mean(stylize(daemon_address, pb.COLOR_MATCH_STYLE))
    # CONTENT: the strokes come from a style image recoloured to the photo's palette.
    assert np.linalg.norm(kept[1:] - photo[1:]) < np.linalg.norm(plain[1:] - photo[1:])
    # STYLE: the result's colours are the painting's.
    assert np.linalg.norm(styled - wave) < 2.5 < np.linalg.norm(plain - wave)


def test_a_bare_vector_has_no_colours_to_match(daemon_address: str) -> None:
    with StylizeClient(daemon_address) as c, pytest.raises(ClientError) as caught:
        c.stylize(
            encode(sample_photo(32, 32)),
            [client.vector_style([0.1] * 100)],
            options=pb.StylizeOptions(color_match=pb.COLOR_MATCH_CONTENT),
        )
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.field == "styles[0]"


def test_style_palette_contradicts_preserve_colors(daemon_address: str) -> None:
    with pytest.raises(ClientError) as caught:
        stylize(daemon_address, pb.COLOR_MATCH_STYLE, preserve_colors=True)
    assert caught.value.field == "options.color_match"


def test_the_bridge_accepts_exactly_the_wire_colour_matches() -> None:
    from stylize.client import bridge

    names = tuple(
        n.removeprefix("COLOR_MATCH_").lower()
        for n in (v.name for v in pb.ColorMatch.DESCRIPTOR.values)
    )
    header = {"strength": 1.0, "content": {"width": 1, "height": 1, "format": "GRAY8"},
              "styles": []}  # fmt: skip
    for name in names:
        assert bridge.parse_job({**header, "color_match": name}, b"\0", []).color_match == name
    with pytest.raises(bridge.BridgeError, match="unknown colour matching"):
        bridge.parse_job({**header, "color_match": "sepia"}, b"\0", [])
