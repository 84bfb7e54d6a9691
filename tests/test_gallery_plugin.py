"""The plug-in's side of the gallery and output choices: the GIMP core (stdlib) through
the real bridge to a real daemon, as the GIMP 3 dialog calls it."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from conftest import REPO, STYLES, encode, sample_photo

sys.path.insert(0, str(REPO / "gimp_plugin"))
from stylize_gimp import core, protocol

RGB = core.PixelFormat(False, False)


def settings(address: str) -> dict:
    return {"python": sys.executable, "pythonpath": "", "address": address, "timeout": 120.0,
            "connect_timeout": 5.0}  # fmt: skip


def test_gallery_lists_the_daemons_styles_with_jpeg_thumbnails(daemon_address: str) -> None:
    styles = {s.name: s for s in core.list_styles(settings=settings(daemon_address))}
    wave = styles["great_wave"]
    assert wave.origin == "bundled" and not wave.error
    assert wave.thumbnail[:2] == b"\xff\xd8" and len(wave.thumbnail) > 1000
    assert wave.file_bytes == (STYLES / "great_wave.jpg").stat().st_size
    small = core.list_styles(settings=settings(daemon_address), thumbnail_side=24)
    assert {s.name for s in small} == set(styles)
    bundled = [s for s in small if s.origin == "bundled"]  # tests add small user styles
    assert len(bundled) == 4
    assert all(len(s.thumbnail) < len(styles[s.name].thumbnail) for s in bundled)


def test_add_to_library_from_the_dialog(daemon_address: str, tmp_path: Path) -> None:
    path = tmp_path / f"My painting ({uuid.uuid4().hex[:6]}).png"
    path.write_bytes(encode(sample_photo(70, 50)))
    added = core.add_style(str(path), settings=settings(daemon_address))
    assert added.name == core.library_name(str(path)) and added.origin == "user"
    assert (added.width, added.height) == (70, 50) and added.thumbnail[:2] == b"\xff\xd8"
    listed = {s.name: s for s in core.list_styles(settings=settings(daemon_address))}
    assert listed[added.name].thumbnail == added.thumbnail
    with pytest.raises(core.StylizeError) as again:
        core.add_style(str(path), settings=settings(daemon_address))
    assert "was not added" in str(again.value) and "already has a style named" in str(again.value)


def test_a_gallery_style_paints_like_its_file(daemon_address: str) -> None:
    pixels = sample_photo(48, 32).tobytes()
    by_name = core.make_request(1.0, "", [(core.LibraryStyle("great_wave"), 1.0)])
    by_file = core.make_request(1.0, "", [(str(STYLES / "great_wave.jpg"), 1.0)])
    named = core.stylize(pixels, 48, 32, RGB, by_name, settings(daemon_address))
    from_file = core.stylize(pixels, 48, 32, RGB, by_file, settings(daemon_address))
    assert named == from_file != pixels
    assert core.layer_name("Background", by_name) == "Background (great_wave)"


def test_an_unknown_gallery_style_is_the_daemons_clear_message(daemon_address: str) -> None:
    request = core.make_request(1.0, "", [(core.LibraryStyle("no_such_style"), 1.0)])
    with pytest.raises(core.StylizeError, match="unknown style 'no_such_style'"):
        core.stylize(bytes(48 * 32 * 3), 48, 32, RGB, request, settings(daemon_address))


@pytest.mark.slow
def test_gallery_without_a_daemon_says_how_to_start_it() -> None:
    with pytest.raises(core.StylizeError, match="Cannot reach the Stylize daemon"):
        core.list_styles(settings=dict(settings("127.0.0.1:1"), connect_timeout=0.5))


@pytest.mark.parametrize(
    ("path", "name"),
    [("/x/My painting (2).jpg", "My_painting_2"), ("é.png", "style"), ("-a.b.png", "a.b"),
     ("/x/" + "n" * 80 + ".png", "n" * 64)],
)  # fmt: skip
def test_library_names_from_file_names(path: str, name: str) -> None:
    assert core.library_name(path) == name


def test_output_and_blend_mode_choices() -> None:
    request = core.make_request(1.0, "", [("a.png", 1.0)], output=1, blend_mode="soft-light")
    assert (request.output, request.blend_mode) == ("in-place", "soft-light")
    assert core.make_request(1.0, "", [("a.png", 1.0)]).output == "new-layer"
    with pytest.raises(core.StylizeError, match="Unknown output 'sideways'"):
        core.make_request(1.0, "", [("a.png", 1.0)], output="sideways")
    with pytest.raises(core.StylizeError, match="Unknown blend mode 'glow'"):
        core.make_request(1.0, "", [("a.png", 1.0)], blend_mode="glow")


def test_requests_without_content_frame_only_their_blobs() -> None:
    header = {"request": "add_style", "name": "x", "styles": [{"size": 3}]}
    assert protocol.encode_request(header, [b"abc"]).endswith(b"abc")
    with pytest.raises(ValueError):
        protocol.encode_request({"request": "list_styles"}, [b"abc"])
