"""Regions over gRPC (issue 17): masks on styles and a strength map, end to end.

Real daemon on loopback (the default backend), small images. The engine's own exactness
and seam tests are in test_regions.py; here the wire, the job core's checks and the fast
method's wiring: what a client sends is what the engine paints, and every bad mask is
INVALID_ARGUMENT naming its field.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import encode, mean_abs_diff, sample_photo, style_bytes
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


# -- the CLI: --style NAME --mask FILE, --strength-map FILE ------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stylize", "apply", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / f"{name}.png" for name in ("photo", "left", "right", "square")}
    sample_photo(W, H).save(paths["photo"])
    Image.fromarray(_left(W // 2, H // 2)).save(paths["left"])  # half size, same shape
    Image.fromarray(255 - _left()).convert("RGB").save(paths["right"])  # colour: luminance
    Image.fromarray(np.full((H, H), 255, np.uint8)).save(paths["square"])
    return paths


def test_cli_paints_two_styles_in_two_masks(
    daemon_address: str, files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out.png"
    regions = [
        *("--style", "starry_night", "--mask", str(files["left"])),
        *("--style", "great_wave", "--mask", str(files["right"])),
    ]
    result = _cli(str(files["photo"]), *regions, "-o", str(out), "--address", daemon_address, "-q")
    assert result.returncode == 0, result.stderr
    through_grpc = _stylize(
        daemon_address,
        [
            _style("starry_night", pb.Mask(encoded=files["left"].read_bytes())),
            _style("great_wave", pb.Mask(encoded=files["right"].read_bytes())),
        ],
    )
    assert out.read_bytes() == through_grpc.encoded  # the CLI sends what a client would


@pytest.mark.slow  # the CLI loads the models itself (--local): about 20 s on 2 cores
def test_cli_regions_locally_equal_the_daemons(
    daemon_address: str, files: dict[str, Path], tmp_path: Path
) -> None:
    args = [str(files["photo"]), "--style", "starry_night", "--mask", str(files["left"]), "-q"]
    args += ["--strength-map", str(files["right"])]
    local, remote = tmp_path / "local.png", tmp_path / "remote.png"
    assert _cli(*args, "-o", str(local), "--local").returncode == 0
    assert _cli(*args, "-o", str(remote), "--address", daemon_address).returncode == 0
    assert mean_abs_diff(_array(local.read_bytes()), _array(remote.read_bytes())) < 1


@pytest.mark.parametrize(
    ("mask", "words"),
    [
        ("missing", "no such file"),
        ("square", "not the shape of"),
        ("text", "cannot be read as an image"),
    ],
)
@pytest.mark.parametrize("option", ["--mask", "--strength-map"])
def test_cli_refuses_a_bad_mask_before_any_job(
    files: dict[str, Path], tmp_path: Path, option: str, mask: str, words: str
) -> None:
    (tmp_path / "text.png").write_text("not an image")
    path = files.get(mask, tmp_path / f"{mask}.png")
    args = [str(files["photo"]), "--style", "starry_night", option, str(path)]
    # No daemon at this address: the refusal comes before any connection.
    result = _cli(*args, "-o", str(tmp_path / "out.png"), "--address", "127.0.0.1:9")
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and str(path) in result.stderr


def test_cli_mask_must_follow_its_style(files: dict[str, Path], tmp_path: Path) -> None:
    out = str(tmp_path / "out.png")
    first = _cli(str(files["photo"]), "--mask", str(files["left"]), "--style", "x", "-o", out)
    assert first.returncode == 2 and "must follow the --style" in first.stderr
    twice = [*("--style", "x", "--mask", str(files["left"]), "--mask", str(files["left"]))]
    second = _cli(str(files["photo"]), *twice, "-o", out)
    assert second.returncode == 2 and "two masks" in second.stderr


# -- another language: examples/node/regions.js, written from the .proto alone ------------

NODE_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "node"


def test_the_node_example_paints_two_regions(daemon_address: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node example client cannot run")
    if not (NODE_EXAMPLE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("the Node example's packages are missing: npm ci --prefix examples/node")
    content, out = tmp_path / "photo.png", tmp_path / "out.png"
    sample_photo(W, H).save(content)
    script = str(NODE_EXAMPLE / "regions.js")
    result = subprocess.run(
        [node, script, daemon_address, str(out), str(content)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    image = Image.open(out)
    assert (image.format, image.size) == ("PNG", (W, H))
    painted = _array(out.read_bytes())
    with StylizeClient(daemon_address) as daemon:
        alone = [
            _array(daemon.stylize(content.read_bytes(), [client.named_style(name)]).encoded)
            for name in ("starry_night", "great_wave")
        ]
    left, right = slice(0, W // 2 - 16), slice(W // 2 + 16, W)
    for side, own, other in ((left, alone[0], alone[1]), (right, alone[1], alone[0])):
        near = np.abs(painted[:, side] - own[:, side]).mean()
        far = np.abs(painted[:, side] - other[:, side]).mean()
        assert near < 16 and far > 2 * near, (near, far)


@pytest.mark.parametrize(
    "options",
    [
        pb.StylizeOptions(preserve_colors=True),
        pb.StylizeOptions(color_match=pb.COLOR_MATCH_CONTENT),
        pb.StylizeOptions(color_match=pb.COLOR_MATCH_STYLE),
        pb.StylizeOptions(stroke_scale=2.0),
    ],
    ids=["preserve-colors", "match-content", "match-style", "stroke-scale"],
)
def test_regions_keep_the_colour_and_stroke_options(
    daemon_address: str, options: pb.StylizeOptions
) -> None:
    """With one all-ones region the options give exactly what they give without it (the
    same job, resolved to today's vector); with two regions they run."""
    ones = _gray8(np.full((H, W), 255, np.uint8))
    plain = _stylize(daemon_address, [_style("starry_night")], options=options).encoded
    masked = _stylize(daemon_address, [_style("starry_night", ones)], options=options).encoded
    assert masked == plain
    halves = [_style("starry_night", _gray8(_left())), _style("great_wave", _gray8(255 - _left()))]
    painted = _array(_stylize(daemon_address, halves, options=options).encoded)
    assert painted.shape == (H, W, 3)


def test_the_node_example_streams_a_consistent_sequence(
    daemon_address: str, tmp_path: Path
) -> None:
    """Issue 20: a client in another language streams a short sequence (StylizeSequence)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node example client cannot run")
    if not (NODE_EXAMPLE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("the Node example's packages are missing: npm ci --prefix examples/node")
    frames, width, height = 5, 96, 64
    script = str(NODE_EXAMPLE / "sequence.js")
    result = subprocess.run(
        [node, script, daemon_address, str(tmp_path), str(frames), str(width), str(height)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [event["index"] for event in events] == list(range(frames))  # in order
    assert events[0]["scene_cut"] and not any(event.get("scene_cut") for event in events[1:])
    assert all(event.get("reliable", 0) > 0.3 for event in events[1:])  # the pan was followed
    for index in range(frames):
        data = (tmp_path / f"frame-{index:03d}.rgb").read_bytes()
        assert len(data) == width * height * 3
