"""Defaults the GIMP side must copy (it cannot import the daemon's package) agree with the
daemon side's single definitions: address, timeouts, protocol version, config file, formats."""

from __future__ import annotations

import sys

from conftest import REPO
from stylize.client import bridge, gimp_install
from stylize.client import library as client
from stylize.engine import stroke_scale
from stylize.server import config
from stylize.server.wire import PIXEL_LAYOUTS
from stylize.v1 import stylize_pb2 as pb

sys.path.insert(0, str(REPO / "gimp_plugin"))
from stylize_gimp import core, protocol


def test_address_and_port() -> None:
    assert core.DEFAULT_ADDRESS == client.DEFAULT_ADDRESS
    assert f"{config.DEFAULT_HOST}:{config.DEFAULT_PORT}" == client.DEFAULT_ADDRESS
    assert client.DEFAULT_PORT == config.DEFAULT_PORT


def test_timeouts() -> None:
    assert core.DEFAULT_TIMEOUT == client.DEFAULT_TIMEOUT
    assert core.DEFAULT_CONNECT_TIMEOUT == client.DEFAULT_CONNECT_TIMEOUT


def test_protocol_version_and_config_file() -> None:
    assert protocol.VERSION == bridge.PROTOCOL_VERSION
    assert core.CONFIG_FILE == gimp_install.CONFIG_FILE
    assert tuple(gimp_install.CREDENTIAL_FILES) == core.CREDENTIAL_KEYS


def test_colour_matches() -> None:
    wire = tuple(
        v.name.removeprefix("COLOR_MATCH_").lower() for v in pb.ColorMatch.DESCRIPTOR.values
    )
    assert wire == core.COLOR_MATCHES
    assert len(core.COLOR_MATCH_LABELS) == len(core.COLOR_MATCHES)


def test_pixel_formats() -> None:
    gimp_side = {name: bpp for name, bpp, _babl in core._FORMATS.values()}
    assert gimp_side == client.BYTES_PER_PIXEL
    wire = {
        pb.PixelFormat.Name(fmt).removeprefix("PIXEL_FORMAT_"): mode.channels * depth.bytes
        for fmt, (mode, depth) in PIXEL_LAYOUTS.items()
    }
    assert wire == client.BYTES_PER_PIXEL
    assert {name: pb.PixelFormat.Value(f"PIXEL_FORMAT_{name}") for name in wire} == client.FORMATS
    every = {v.number for v in pb.PixelFormat.DESCRIPTOR.values} - {0}
    assert set(PIXEL_LAYOUTS) == every  # each wire format is decoded by the daemon


def test_stroke_scale() -> None:
    assert core.DEFAULT_STROKE_SCALE == stroke_scale.DEFAULT_STROKE_SCALE
    assert core.MIN_STROKE_SCALE == stroke_scale.MIN_STROKE_SCALE
    assert core.MAX_STROKE_SCALE == stroke_scale.MAX_STROKE_SCALE
    assert core.MIN_STROKE_SCALE < core.DIALOG_MAX_STROKE_SCALE <= core.MAX_STROKE_SCALE


def test_methods_presets_and_balance() -> None:
    from stylize.engine.optimization.method import OptimizeOptions

    assert core.METHODS == bridge.METHODS
    assert tuple(bridge.PRESETS) == core.PRESETS
    assert len(core.PRESET_LABELS) == len(core.PRESETS)
    assert len(core.METHOD_LABELS) == len(core.METHODS)
    assert core.MAX_KEEP_STEPS == bridge.MAX_KEEP_STEPS
    defaults = OptimizeOptions()
    assert (defaults.content_weight, defaults.style_weight) == bridge.BALANCE_CENTRE
    from stylize.engine.images import MIN_SIDE

    assert bridge._MIN_SIDE == MIN_SIDE


def test_serve_options_default_to_the_server_config(monkeypatch) -> None:
    from stylize.client import cli

    for name in ("STYLIZE_HOST", "STYLIZE_PORT", "STYLIZE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    args = cli.build_parser().parse_args(["serve"])
    assert cli.server_config(args) == config.ServerConfig()
