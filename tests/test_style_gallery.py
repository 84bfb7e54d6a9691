"""The style gallery: ListStyles (thumbnails, pages) and AddStyle, over real gRPC."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest
from conftest import STYLES, encode, sample_photo, style_bytes
from PIL import Image
from stylize.client import library as client
from stylize.client.library import ClientError, StylizeClient
from stylize.engine.images import ImageLimits
from stylize.engine.memory_budget import MemoryBudget
from stylize.jobs.style_gallery import StyleGallery
from stylize.jobs.style_library import StyleLibrary
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

BUNDLED = ("dance_foyer", "great_wave", "shipwreck", "starry_night")


@pytest.fixture(scope="module")
def daemon(daemon_address: str):
    with StylizeClient(daemon_address) as c:
        yield c


@pytest.fixture(scope="module")
def stub(daemon_address: str):
    with grpc.insecure_channel(daemon_address) as channel:
        yield stylize_pb2_grpc.StyleTransferStub(channel)


def unique(prefix: str = "mine") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def refusal(call, *args) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(*args)
    return caught.value


def test_bundled_styles_come_with_thumbnails_of_their_paintings(daemon: StylizeClient) -> None:
    styles = {s.name: s for s in daemon.list_styles()}
    for name in BUNDLED:
        info = styles[name]
        painting = Image.open(STYLES / f"{name}.jpg")
        thumb = Image.open(io.BytesIO(info.thumbnail))
        assert info.origin == pb.NamedStyleInfo.ORIGIN_BUNDLED
        assert (info.width, info.height) == painting.size
        assert info.file_bytes == (STYLES / f"{name}.jpg").stat().st_size
        assert thumb.format == "JPEG" and max(thumb.size) == 128
        assert thumb.size == (info.thumbnail_width, info.thumbnail_height)
        assert abs(thumb.width / thumb.height - painting.width / painting.height) < 0.05
        # the thumbnail shows the painting: compare it with the painting scaled down
        expected = painting.convert("RGB").resize(thumb.size)
        diff = sum(abs(a - b) for a, b in zip(thumb.tobytes(), expected.tobytes(), strict=True))
        assert diff / len(expected.tobytes()) < 12


def test_thumbnail_side_is_honoured(daemon: StylizeClient) -> None:
    bundled = [s for s in daemon.list_styles(32) if s.origin == pb.NamedStyleInfo.ORIGIN_BUNDLED]
    assert {max(s.thumbnail_width, s.thumbnail_height) for s in bundled} == {32}


def test_pages_cover_every_style_once(stub) -> None:
    names, token, pages = [], "", 0
    while True:
        page = stub.ListStyles(pb.ListStylesRequest(page_size=3, page_token=token), timeout=30)
        assert len(page.styles) <= 3
        names += [s.name for s in page.styles]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert names == sorted(set(names)) and len(names) == page.total >= 4
    assert pages == -(-page.total // 3)


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [({"page_token": "../etc"}, "page_token"), ({"thumbnail_side": 4096}, "thumbnail_side")],
)
def test_bad_list_requests_are_refused(stub, request_fields: dict, field: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListStyles(pb.ListStylesRequest(**request_fields), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
    error = client.client_error(caught.value, "")
    assert error.field == field


def test_an_added_style_is_listed_and_usable_by_name(daemon: StylizeClient) -> None:
    name = unique()
    data = encode(sample_photo(80, 60))
    added = daemon.add_style(name, data)
    assert (added.name, added.origin) == (name, pb.NamedStyleInfo.ORIGIN_USER)
    assert (added.width, added.height, added.file_bytes) == (80, 60, len(data))
    assert Image.open(io.BytesIO(added.thumbnail)).size == (80, 60)  # never enlarged
    listed = {s.name: s for s in daemon.list_styles()}
    assert listed[name].thumbnail == added.thumbnail
    by_name = daemon.predict_style(client.named_style(name))
    assert by_name == daemon.predict_style(client.encoded_style(data))


def test_duplicate_names_are_refused(daemon: StylizeClient) -> None:
    name = unique()
    first = encode(sample_photo(64, 64))
    daemon.add_style(name, first)
    for taken in (name, "starry_night"):  # a user style, and a bundled one
        error = refusal(daemon.add_style, taken, encode(sample_photo(32, 32)))
        assert (error.code, error.reason, error.field) == ("ALREADY_EXISTS", "STYLE_EXISTS", "name")
        assert "already has a style named" in error.message
    assert daemon.predict_style(client.named_style(name)) == daemon.predict_style(
        client.encoded_style(first)
    )  # the first file is still the one stored


@pytest.mark.parametrize(
    ("name", "data", "code", "reason", "field", "words"),
    [
        ("../evil", None, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "name", "is not valid"),
        ("", None, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "name", "is not valid"),
        ("eps", b"%!PS-Adobe-3.0 EPSF-3.0\n", "INVALID_ARGUMENT", "UNSUPPORTED_FORMAT", "image",
         "accepted format"),
        ("empty", b"", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "image", "empty"),
        ("cut", "truncated", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "image", "corrupt"),
        ("tiny", "tiny", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "image", "at least"),
        ("huge", b"\0" * ((32 << 20) + 1), "RESOURCE_EXHAUSTED", "LIMIT_EXCEEDED", "image",
         "at most"),
    ],
)  # fmt: skip
def test_bad_additions_are_refused_and_store_nothing(
    daemon: StylizeClient, name: str, data, code: str, reason: str, field: str, words: str
) -> None:
    if data is None:
        data = encode(sample_photo(64, 64))
    elif data == "truncated":
        data = encode(sample_photo(64, 64))[:300]
    elif data == "tiny":
        data = encode(sample_photo(8, 8))
    name = name and (name if name.startswith("..") else unique(name))
    before = {s.name for s in daemon.list_styles()}
    error = refusal(daemon.add_style, name, data)
    assert (error.code, error.reason, error.field) == (code, reason, field), error.message
    assert words in error.message
    assert {s.name for s in daemon.list_styles()} == before


def library_with(tmp_path: Path, count: int) -> StyleLibrary:
    folder = tmp_path / "styles"
    folder.mkdir()
    for index in range(count):
        (folder / f"s{index}.png").write_bytes(encode(sample_photo(40 + index, 30)))
    return StyleLibrary(user_dir=folder, bundled_dir=tmp_path / "none")


def test_thumbnails_are_cached_per_file_version_and_the_cache_is_bounded(tmp_path: Path) -> None:
    library = library_with(tmp_path, 3)
    gallery = StyleGallery(library, ImageLimits(), MemoryBudget(1 << 30), cache_entries=3)
    first = gallery.page(0, "", 0)
    assert gallery.made == 3 and [e.name for e in first.entries] == ["s0", "s1", "s2"]
    assert gallery.page(0, "", 0).entries == first.entries and gallery.made == 3
    changed = library.user_dir / "s1.png"
    changed.write_bytes(encode(sample_photo(90, 30)))
    os.utime(changed, ns=(1, 1))  # a new version of the file (mtime and size)
    assert gallery.page(0, "", 0).entries[1].thumbnail.image_width == 90
    assert gallery.made == 4
    gallery.page(0, "", 64)  # three more entries push the 128 px ones out (bound: 3)
    gallery.page(0, "", 0)
    assert gallery.made == 10


def test_an_unreadable_style_is_listed_with_the_reason(tmp_path: Path) -> None:
    library = library_with(tmp_path, 1)
    (library.user_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    gallery = StyleGallery(library, ImageLimits(), MemoryBudget(1 << 30))
    broken, fine = gallery.page(0, "", 0).entries
    assert broken.name == "broken" and broken.thumbnail is None and "not an image" in broken.error
    assert fine.thumbnail is not None and not fine.error


def test_library_refuses_more_than_its_bound(tmp_path: Path, monkeypatch) -> None:
    from stylize.jobs import style_library

    monkeypatch.setattr(style_library, "MAX_USER_STYLES", 3)
    library = library_with(tmp_path, 3)
    gallery = StyleGallery(library, ImageLimits(), MemoryBudget(1 << 30))
    with pytest.raises(style_library.LimitExceededError, match="library is full"):
        gallery.add("fourth", encode(sample_photo(32, 32)))
    assert not (library.user_dir / "fourth.png").exists()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stylize", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_lists_and_adds_through_the_daemon(daemon_address: str, tmp_path: Path) -> None:
    name = unique("cli")
    painting = tmp_path / "painting.jpg"
    painting.write_bytes(style_bytes("great_wave"))
    listed = run_cli("styles", "list", "--address", daemon_address)
    assert listed.returncode == 0, listed.stderr
    assert all(f"{n:24} bundled" in listed.stdout for n in BUNDLED)
    added = run_cli("styles", "add", str(painting), "--name", name, "--address", daemon_address)
    assert added.returncode == 0 and added.stdout.startswith(f"{name:24} user"), added.stderr
    assert name in run_cli("styles", "list", "--address", daemon_address).stdout
    again = run_cli("styles", "add", str(painting), "--name", name, "--address", daemon_address)
    assert again.returncode == 1 and "already has a style named" in again.stderr
