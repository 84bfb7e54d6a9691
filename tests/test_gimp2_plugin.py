"""The GIMP 2.10 entry driven through faithful gimpfu fakes (tests/fakes), the real
bridge and a real daemon. The plug-in is installed with our installer into a temporary
plug-ins folder and imported from there, as GIMP 2.10 would run it."""

from __future__ import annotations

import importlib
import json
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import STYLES, mean_abs_diff, start_daemon, stop_daemon
from stylize.client import gimp_install

FAKES = Path(__file__).resolve().parent / "fakes"
FAKE_MODULES = ("gimp", "gimpfu", "gimpenums", "gimpshelf", "gimpcolor")
STYLE = str(STYLES / "starry_night.jpg")
STYLE2 = str(STYLES / "great_wave.jpg")
W, H = 96, 64


class Gimp2:
    """The installed 2.10 plug-in loaded against the fakes."""

    def __init__(self, entry: ModuleType, gimp: ModuleType, gimpfu: ModuleType) -> None:
        self.entry, self.gimp, self.gimpfu = entry, gimp, gimpfu
        self.config = Path(entry.__file__).parent / "stylize_gimp" / "stylize-gimp.json"
        self.proc = gimpfu._registered_plugins_["python-fu-stylize"]

    def run(self, image, drawable, *params, mode=None):
        """Call the procedure like GIMP does (gimpfu._run), default non-interactive."""
        mode = self.gimpfu.RUN_NONINTERACTIVE if mode is None else mode
        return self.gimpfu._run("python-fu-stylize", (mode, image, drawable, *params))

    def stylize(
        self,
        image,
        drawable,
        address,
        style=STYLE,
        strength=1.0,
        style2="",
        weight2=1.0,
        keep_colors=False,
        color_match=0,
        opacity=100.0,
        output=0,
        style_name="",
        stroke_scale=1.0,
        method=0,
        preset=1,
        regions=0,
    ):
        """``method``, ``preset``, ``regions``: option indices, the last parameters."""
        return self.run(
            image,
            drawable,
            style,
            strength,
            style2,
            weight2,
            "",
            1.0,
            address,
            keep_colors,
            color_match,
            opacity,
            output,
            style_name,
            stroke_scale,
            method,
            preset,
            regions,
        )


@pytest.fixture
def gimp2(tmp_path: Path) -> Iterator[Gimp2]:
    plugins = tmp_path / "plug-ins"
    config = {"python": sys.executable, "address": "127.0.0.1:1", "timeout": 120.0}
    entry_path = gimp_install.install_into(plugins, "2.10", config)
    saved_path = list(sys.path)
    sys.path[:0] = [str(FAKES)]
    for name in [*FAKE_MODULES, *(m for m in sys.modules if m.startswith("stylize_gimp"))]:
        sys.modules.pop(name, None)
    try:
        gimp = importlib.import_module("gimp")
        gimpfu = importlib.import_module("gimpfu")
        spec = importlib.util.spec_from_file_location("stylize_neural_style", entry_path)
        entry = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(entry)  # registers, like GIMP's query
        assert Path(sys.modules["stylize_gimp.core"].__file__).parent == plugins / "stylize_gimp"
        yield Gimp2(entry, gimp, gimpfu)
    finally:
        sys.path[:] = saved_path
        for name in [*FAKE_MODULES, *(m for m in sys.modules if m.startswith("stylize_gimp"))]:
            sys.modules.pop(name, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- images -----------------------------------------------------------------------


def pattern(width: int, height: int, bpp: int) -> bytes:
    """A smooth, non-trivial picture; the last channel varies as alpha when bpp is 2/4."""
    out = bytearray()
    for y in range(height):
        for x in range(width):
            px = [(x * 5 + y) % 256, (y * 7) % 256, (x * y) % 256][: 1 if bpp < 3 else 3]
            if bpp in (2, 4):
                px.append(255 if x < width // 2 else 40 + y)
            out += bytes(px)
    return bytes(out)


def make_image(
    gimp2: Gimp2,
    base=None,
    layer_type=None,
    size=(W, H),
    offsets=(0, 0),
    image_size=(128, 96),
    group=False,
):
    g, e = gimp2.gimp, gimp2.gimpfu
    image = g.Image(*image_size, e.RGB if base is None else base)
    layer = g.Layer(
        image,
        "Photo",
        *size,
        e.RGB_IMAGE if layer_type is None else layer_type,
        100.0,
        e.LAYER_MODE_NORMAL,
    )
    parent = None
    if group:
        parent = g.GroupLayer(image, "Group")
        image.insert_layer(parent, None, 0)
        image.insert_layer(g.Layer(image, "Below", *size, layer.type), parent, 0)
    image.insert_layer(layer, parent, 0)
    if group:  # the source sits in the middle of its group
        image.insert_layer(g.Layer(image, "Above", *size, layer.type), parent, 0)
    layer.set_offsets(*offsets)
    rgn = layer.get_pixel_rgn(0, 0, *size, True, False)
    rgn[0 : size[0], 0 : size[1]] = pattern(*size, layer.bpp)
    layer.flush()
    image.undo_steps  # noqa: B018 - setup changes are on the stack like in GIMP
    return image, layer


def stack(layer):
    siblings = layer.parent.layers if layer.parent else layer.image.layers
    return siblings


def mean_diff(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def channel(data: bytes, bpp: int, index: int) -> bytes:
    return data[index::bpp]


# --- registration ------------------------------------------------------------------


def test_registers_under_filters_artistic_for_rgb_and_gray(gimp2: Gimp2) -> None:
    proc = gimp2.proc
    assert proc["menu"] == "<Image>/Filters/Artistic"
    assert proc["label"] == "_Neural Style Transfer..."
    assert proc["imagetypes"] == "RGB*, GRAY*"  # INDEXED* absent: greyed out
    e = gimp2.gimpfu
    names = [(p[0], p[1]) for p in proc["params"]]
    assert names == [
        (e.PF_IMAGE, "image"),
        (e.PF_DRAWABLE, "drawable"),
        (e.PF_FILE, "style"),
        (e.PF_SLIDER, "strength"),
        (e.PF_FILE, "style2"),
        (e.PF_SLIDER, "weight2"),
        (e.PF_FILE, "style3"),
        (e.PF_SLIDER, "weight3"),
        (e.PF_STRING, "address"),
        (e.PF_TOGGLE, "keep_colors"),
        (e.PF_OPTION, "color_match"),
        (e.PF_SLIDER, "opacity"),
        (e.PF_OPTION, "output"),
        (e.PF_STRING, "style_name"),
        (e.PF_SLIDER, "stroke_scale"),
        (e.PF_OPTION, "method"),  # appended last: earlier scripts' parameters keep their place
        (e.PF_OPTION, "preset"),
        (e.PF_OPTION, "regions"),
    ]
    options = {p[1]: (p[3], p[4]) for p in proc["params"] if p[0] == e.PF_OPTION}
    assert options["method"] == (0, ["Fast (seconds)", "Best quality (minutes)"])  # default
    assert options["preset"] == (1, ["Draft (quickest)", "Good", "Finest (slowest)"])  # good
    sliders = [p[4] for p in proc["params"] if p[0] == e.PF_SLIDER]
    assert sliders == [
        *((0.0, 1.0, 0.05), (0.0, 10.0, 0.05), (0.0, 10.0, 0.05), (0.0, 100.0, 1.0)),
        (1 / 64, 4.0, 0.05),
    ]


@pytest.mark.parametrize(
    ("name", "params", "error"),
    [
        ("bad name!", [], "illegal characters"),
        ("ok", [(1004, "style", "Style")], "at least 4 elements"),
        ("ok", [("1004", "style", "Style", "")], "must be integers"),
        ("ok", [(1004, "bad name", "Style", "")], "illegal characters"),
    ],
)
def test_fake_register_validates_like_gimpfu(gimp2: Gimp2, name, params, error) -> None:
    with pytest.raises(gimp2.gimpfu.error, match=error):
        gimp2.gimpfu.register(
            name, "", "", "", "", "", "L", "*", params, [], print, menu="<Image>/Filters"
        )


def test_fake_register_requires_bounds_for_sliders(gimp2: Gimp2) -> None:
    with pytest.raises(IndexError):
        gimp2.gimpfu.register(
            "ok",
            "",
            "",
            "",
            "",
            "",
            "L",
            "*",
            [(gimp2.gimpfu.PF_SLIDER, "s", "S", 1.0)],
            [],
            print,
            menu="<Image>/Filters",
        )


def test_fake_pixel_regions_behave_like_pygimp(gimp2: Gimp2) -> None:
    image, layer = make_image(gimp2, offsets=(5, 7))
    rgn = layer.get_pixel_rgn(10, 10, 4, 3, True, False)
    assert rgn[10:14, 10:13] == b"".join(
        pattern(W, H, 3)[(y * W + 10) * 3 : (y * W + 14) * 3] for y in range(10, 13)
    )
    with pytest.raises(TypeError, match="wrong length"):
        rgn[10:14, 10:13] = b"\0" * 5
    with pytest.raises(TypeError, match="must assign string"):
        rgn[10:14, 10:13] = bytearray(36)
    with pytest.raises(TypeError, match="2-tuple"):
        rgn[10]
    lost = layer.get_pixel_rgn(0, 0, 2, 1, False, False)
    lost[0:2, 0:1] = b"\xff" * 6  # not dirty: never reaches GIMP
    layer.flush()
    assert layer.pixels()[:6] == pattern(W, H, 3)[:6]
    kept = layer.get_pixel_rgn(0, 0, 2, 1, True, False)
    kept[0:2, 0:1] = b"\xff" * 6
    assert layer.pixels()[:6] == pattern(W, H, 3)[:6]  # not yet flushed
    layer.flush()
    assert layer.pixels()[:6] == b"\xff" * 6
    gimp2.gimp.pdb.gimp_image_select_rectangle(image, 2, 120, 90, 5, 5)  # outside the layer
    with pytest.raises(gimp2.gimp.error):
        layer.mask_intersect()
    with pytest.raises(AttributeError):
        gimp2.gimp.pdb.gimp_no_such_procedure(image)


# --- full runs through the bridge and a real daemon ----------------------------------


def test_rgb_layer_gets_a_stylized_layer_above_it(gimp2: Gimp2, daemon_address: str) -> None:
    image, src = make_image(gimp2, offsets=(9, 4))
    before, undo_before = src.pixels(), image.undo_steps
    gimp2.stylize(image, src, daemon_address, strength=1.0)

    assert gimp2.gimp.state.messages == []
    new = image.layers[0]
    assert image.layers[1] is src and len(image.layers) == 2
    assert new.name == "Photo (starry_night)"
    assert (new.width, new.height, new.offsets, new.type) == (W, H, (9, 4), src.type)
    assert new.mask is None
    assert mean_diff(new.pixels(), before) > 20  # actually stylized
    assert src.pixels() == before and src.offsets == (9, 4)  # source untouched
    steps = image.undo_steps
    assert steps[: len(undo_before)] == undo_before and len(steps) == len(undo_before) + 1
    assert steps[-1][0] == "insert layer Photo (starry_night)"
    updates = [p for p in gimp2.gimp.state.progress if p[0] == "update"]
    assert len(updates) >= 3 and max(f for _, f in updates) > 0.9  # fed by daemon progress
    assert gimp2.gimp.state.flushes >= 1


def test_keep_colours_keeps_the_layers_chroma(gimp2: Gimp2, daemon_address: str) -> None:
    from PIL import Image

    image, src = make_image(gimp2)
    gimp2.stylize(image, src, daemon_address, keep_colors=True)
    kept = image.layers[0]
    gimp2.stylize(image, src, daemon_address, keep_colors=False)
    plain = image.layers[image.layers.index(src) - 1]  # the newest sits right above the source
    assert plain is not kept
    assert gimp2.gimp.state.messages == []

    def chroma(layer) -> bytes:
        rgb = Image.frombytes("RGB", (layer.width, layer.height), layer.pixels())
        return rgb.convert("YCbCr").tobytes()[1::3] + rgb.convert("YCbCr").tobytes()[2::3]

    assert mean_diff(kept.pixels(), src.pixels()) > 10  # still stylized (luminance)
    assert mean_diff(chroma(kept), chroma(src)) < 3
    assert mean_diff(chroma(plain), chroma(src)) > 3 * mean_diff(chroma(kept), chroma(src))


def test_style_palette_and_a_contradiction(gimp2: Gimp2, daemon_address: str) -> None:
    import numpy as np
    from conftest import STYLES
    from PIL import Image
    from stylize.engine import colour_transfer

    def lab_mean(rgb: np.ndarray) -> np.ndarray:
        return colour_transfer.to_lab(np.ascontiguousarray(rgb)).reshape(-1, 3).mean(axis=0)

    image, src = make_image(gimp2)
    gimp2.stylize(image, src, daemon_address, color_match=2)  # "Take the style's palette"
    assert gimp2.gimp.state.messages == []
    layer = image.layers[0]
    out = np.frombuffer(layer.pixels(), np.uint8).reshape(layer.height, layer.width, 3)
    painting = np.asarray(Image.open(STYLES / "starry_night.jpg").convert("RGB"))
    assert np.linalg.norm(lab_mean(out) - lab_mean(painting)) < 3.0

    layers = len(image.layers)
    gimp2.stylize(image, src, daemon_address, keep_colors=True, color_match=2)
    assert len(image.layers) == layers and "contradict" in gimp2.gimp.state.messages[-1]


def test_opacity_weights_and_a_name_that_records_the_options(
    gimp2: Gimp2, daemon_address: str
) -> None:
    image, src = make_image(gimp2)
    wave = str(STYLES / "great_wave.jpg")
    gimp2.stylize(image, src, daemon_address, strength=0.6, style2=wave, weight2=3.0,
                  keep_colors=True, opacity=40.0)  # fmt: skip
    assert gimp2.gimp.state.messages == []
    layer = image.layers[0]
    assert layer.opacity == 40.0
    assert layer.name == f"{src.name} (starry_night + great_wave, strength 0.6, keep colours)"


def test_stroke_scale_reaches_the_daemon_and_is_named(gimp2: Gimp2, daemon_address: str) -> None:
    image, src = make_image(gimp2, size=(600, 400), image_size=(600, 400))
    gimp2.stylize(image, src, daemon_address, stroke_scale=4.0)  # a 256x171 painting
    gimp2.stylize(image, src, daemon_address, stroke_scale=1 / 64)  # 600x400
    assert gimp2.gimp.state.messages == []
    big, full = image.layers[0], image.layers[1]  # each new layer goes right above the source
    assert big.name == f"{src.name} (starry_night, strokes x4)"
    assert full.name == f"{src.name} (starry_night, full resolution)"
    assert (big.width, big.height) == (full.width, full.height) == (600, 400)
    pixels = [np.frombuffer(layer.pixels(), np.uint8) for layer in (big, full)]
    assert mean_abs_diff(*pixels) > 10
    gimp2.stylize(image, src, daemon_address, stroke_scale=0.0)
    assert "Stroke size must be between" in gimp2.gimp.state.messages[-1]
    assert len(image.layers) == 3


def test_selection_sends_its_bounding_box_and_masks_the_result(
    gimp2: Gimp2, daemon_address: str
) -> None:
    image, src = make_image(gimp2, offsets=(10, 6), group=True)
    gimp2.gimp.pdb.gimp_image_select_rectangle(image, 2, 20, 16, 40, 30)  # image coords
    before = src.pixels()
    gimp2.stylize(image, src, daemon_address)

    assert gimp2.gimp.state.messages == []
    group = src.parent
    names = [layer.name for layer in group.layers]
    assert names == ["Above", "Photo (starry_night)", "Photo", "Below"]  # right above
    new = group.layers[1]
    assert new.parent is group
    assert (new.width, new.height) == (40, 30)
    assert new.offsets == (20, 16)
    assert new.mask is not None and set(new.mask.pixels()) == {255}  # rectangle: all inside
    crop = b"".join(before[((y + 10) * W + 10) * 3 : ((y + 10) * W + 50) * 3] for y in range(30))
    assert mean_diff(new.pixels(), crop) > 20
    assert src.pixels() == before


@pytest.mark.slow
def test_style_1_inside_the_selection_style_2_outside(gimp2: Gimp2, daemon_address: str) -> None:
    """The regions option: the whole layer (here partly off the canvas, where the selection
    is black: outside) is painted once, its left half like style 1 alone, its right half
    like style 2 alone; one undo step, no selection mask on the result."""

    def as_array(layer) -> np.ndarray:
        return np.frombuffer(layer.pixels(), np.uint8).reshape(H, W, 3).astype(float)

    image, src = make_image(gimp2, offsets=(40, 10))  # 96x64 on a 128x96 canvas: 8 px off
    alone = []
    for style in (STYLE, STYLE2):
        gimp2.stylize(image, src, daemon_address, style=style)
        alone.append(as_array(image.layers[image.layers.index(src) - 1]))  # right above
    image, src = make_image(gimp2, offsets=(40, 10))
    gimp2.gimp.pdb.gimp_image_select_rectangle(image, 2, 40, 10, W // 2, H)  # the left half
    undo_before = image.undo_steps
    gimp2.stylize(image, src, daemon_address, style2=STYLE2, regions=1)
    assert gimp2.gimp.state.messages == []
    new = image.layers[0]
    assert (new.width, new.height, new.offsets, new.mask) == (W, H, (40, 10), None)
    assert len(image.undo_steps) == len(undo_before) + 1
    both = as_array(new)
    for side, near, far in ((np.s_[:, : W // 2 - 8], 0, 1), (np.s_[:, W // 2 + 8 :], 1, 0)):
        nearer = np.abs(both[side] - alone[near][side]).mean()
        assert nearer < 0.5 * np.abs(both[side] - alone[far][side]).mean()


@pytest.mark.parametrize(
    ("select", "changes", "words"),
    [
        (None, {"style2": STYLE2}, "nothing is selected"),
        ((0, 0, 128, 96), {"style2": STYLE2}, "covers the whole layer"),
        ((0, 0, 40, 40), {}, "needs a second style image"),
        ((0, 0, 40, 40), {"style2": STYLE2, "output": 1}, "choose Output: New layer"),
    ],
)
def test_regions_that_cannot_work_leave_the_image_alone(
    gimp2: Gimp2, daemon_address: str, select, changes: dict, words: str
) -> None:
    image, src = make_image(gimp2)
    if select:
        gimp2.gimp.pdb.gimp_image_select_rectangle(image, 2, *select)
    before, undo_before = src.pixels(), image.undo_steps
    gimp2.stylize(image, src, daemon_address, regions=1, **changes)
    assert words in gimp2.gimp.state.messages[-1]
    assert image.layers == [src] and src.pixels() == before and image.undo_steps == undo_before


def test_alpha_is_kept(gimp2: Gimp2, daemon_address: str) -> None:
    image, src = make_image(gimp2, layer_type=gimp2.gimpfu.RGBA_IMAGE)
    gimp2.stylize(image, src, daemon_address)
    new = image.layers[0]
    assert new.type == gimp2.gimpfu.RGBA_IMAGE
    assert channel(new.pixels(), 4, 3) == channel(src.pixels(), 4, 3)
    assert mean_diff(channel(new.pixels(), 4, 0), channel(src.pixels(), 4, 0)) > 20


def test_grayscale_image_gets_a_grayscale_layer(gimp2: Gimp2, daemon_address: str) -> None:
    e = gimp2.gimpfu
    image, src = make_image(gimp2, base=e.GRAY, layer_type=e.GRAYA_IMAGE)
    gimp2.stylize(image, src, daemon_address, style2=STYLE2, weight2=0.5)
    new = image.layers[0]
    assert new.type == e.GRAYA_IMAGE and new.name == "Photo (starry_night + great_wave)"
    assert channel(new.pixels(), 2, 1) == channel(src.pixels(), 2, 1)
    assert mean_diff(channel(new.pixels(), 2, 0), channel(src.pixels(), 2, 0)) > 10


@pytest.mark.slow
def test_best_quality_draft_paints_a_new_layer(gimp2: Gimp2, daemon_address: str) -> None:
    """The optimisation method from GIMP 2.10: method and preset are the last parameters."""
    image, src = make_image(gimp2, size=(64, 48), image_size=(64, 48))
    before, undo_before = src.pixels(), image.undo_steps
    gimp2.stylize(image, src, daemon_address, strength=0.3, method=1, preset=0)
    assert gimp2.gimp.state.messages == []
    new = image.layers[0]
    assert new.name == "Photo (starry_night, draft quality)"  # strength is the fast method's
    assert mean_diff(new.pixels(), before) > 10
    assert src.pixels() == before
    assert len(image.undo_steps) == len(undo_before) + 1
    texts = [p[1] for p in gimp2.gimp.state.progress if p[0] == "text"]
    assert any(t.startswith("Refining the painting… ") for t in texts), texts


def test_interactive_then_last_values(gimp2: Gimp2, daemon_address: str) -> None:
    e = gimp2.gimpfu
    image, src = make_image(gimp2)
    values = [STYLE, 0.7, "", 1.0, "", 1.0, daemon_address]
    e.dialog_values = lambda defaults: values
    gimp2.run(image, src, mode=e.RUN_INTERACTIVE)
    e.dialog_values = None
    gimp2.run(image, src, mode=e.RUN_WITH_LAST_VALS)
    names = [layer.name for layer in image.layers]
    assert names == ["Photo (starry_night, strength 0.7)"] * 2 + ["Photo"]
    assert gimp2.gimp.state.messages == []


# --- errors: message, image unchanged --------------------------------------------------


def assert_unchanged(image, src, before: bytes, undo_before) -> None:
    assert image.all_layers() == [src] or src in image.all_layers()
    assert len(image.all_layers()) == 1
    assert src.pixels() == before
    assert image.undo_steps == undo_before


def run_failing(gimp2: Gimp2, address: str, **kwargs) -> str:
    image, src = make_image(gimp2)
    before, undo_before = src.pixels(), image.undo_steps
    gimp2.stylize(image, src, address, **kwargs)
    assert_unchanged(image, src, before, undo_before)
    assert len(gimp2.gimp.state.messages) == 1
    return gimp2.gimp.state.messages[0]


@pytest.mark.slow
def test_daemon_not_running(gimp2: Gimp2) -> None:
    port = free_port()
    message = run_failing(gimp2, f"127.0.0.1:{port}")
    assert "Cannot reach the Stylize daemon" in message
    assert f"`stylize serve --port {port}`" in message


def test_invalid_style_file(gimp2: Gimp2, daemon_address: str, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("not an image")
    message = run_failing(gimp2, daemon_address, style=str(bogus))
    assert "Stylize cannot use style 1" in message and "accepted format" in message


def test_missing_style_file(gimp2: Gimp2, daemon_address: str) -> None:
    message = run_failing(gimp2, daemon_address, style="/no/such/painting.jpg")
    assert "Cannot read the style image /no/such/painting.jpg" in message


def test_no_style_chosen(gimp2: Gimp2, daemon_address: str) -> None:
    assert "Choose a style image" in run_failing(gimp2, daemon_address, style="")


def test_selection_outside_the_layer(gimp2: Gimp2, daemon_address: str) -> None:
    image, src = make_image(gimp2, image_size=(200, 200))
    gimp2.gimp.pdb.gimp_image_select_rectangle(image, 2, 150, 150, 20, 20)
    before, undo_before = src.pixels(), image.undo_steps
    gimp2.stylize(image, src, daemon_address)
    assert_unchanged(image, src, before, undo_before)
    assert "does not overlap" in gimp2.gimp.state.messages[0]


def test_indexed_layers_are_refused(gimp2: Gimp2, daemon_address: str) -> None:
    e = gimp2.gimpfu
    image, src = make_image(gimp2, base=e.INDEXED, layer_type=e.INDEXED_IMAGE)
    gimp2.stylize(image, src, daemon_address)
    assert len(image.layers) == 1
    assert "Indexed" in gimp2.gimp.state.messages[0]


@pytest.fixture(scope="module")
def small_daemon(tmp_path_factory: pytest.TempPathFactory):
    """A daemon that accepts at most 1000 pixels."""
    daemon = start_daemon(tmp_path_factory.mktemp("small") / "daemon.log", "--max-pixels", "1000")
    yield daemon
    stop_daemon(daemon)


def test_image_too_large_for_the_daemon(gimp2: Gimp2, small_daemon) -> None:
    message = run_failing(gimp2, small_daemon.address)
    assert "too large" in message and "smaller area" in message


@pytest.mark.slow
def test_daemon_dies_mid_job(gimp2: Gimp2, tmp_path: Path, monkeypatch) -> None:
    daemon = start_daemon(tmp_path / "daemon.log")
    try:
        killed = []
        real_update = gimp2.gimp.progress_update

        def kill_on_stylizing(fraction: float) -> None:
            real_update(fraction)
            if fraction > 0 and not killed:  # the daemon has accepted the job
                daemon.process.send_signal(signal.SIGKILL)
                daemon.process.wait()
                killed.append(fraction)

        monkeypatch.setattr(gimp2.gimp, "progress_update", kill_on_stylizing)
        image, src = make_image(gimp2, size=(1200, 900), image_size=(1200, 900))
        before, undo_before = src.pixels(), image.undo_steps
        gimp2.stylize(image, src, daemon.address)
    finally:
        stop_daemon(daemon)
    assert killed
    assert_unchanged(image, src, before, undo_before)
    message = gimp2.gimp.state.messages[0]
    port = daemon.address.rpartition(":")[2]
    assert "stopped during the job" in message and f"stylize serve --port {port}" in message

    # The same GIMP session picks up a daemon restarted on the same port.
    monkeypatch.setattr(gimp2.gimp, "progress_update", real_update)
    restarted = start_daemon(tmp_path / "restarted.log", "--port", port)
    try:
        small, small_src = make_image(gimp2, size=(64, 48), image_size=(64, 48))
        layers_before = len(small.layers)
        gimp2.stylize(small, small_src, restarted.address)
    finally:
        stop_daemon(restarted)
    assert len(small.layers) == layers_before + 1, gimp2.gimp.state.messages


def test_timeout(gimp2: Gimp2, daemon_address: str) -> None:
    config = json.loads(gimp2.config.read_text())
    gimp2.config.write_text(json.dumps({**config, "timeout": 0.05}))
    image, src = make_image(gimp2, size=(800, 600), image_size=(800, 600))
    before, undo_before = src.pixels(), image.undo_steps
    gimp2.stylize(image, src, daemon_address)
    assert_unchanged(image, src, before, undo_before)
    message = gimp2.gimp.state.messages[0]
    assert "did not finish within 0.05 seconds" in message and "smaller area" in message


def test_a_library_style_by_name(gimp2: Gimp2, daemon_address: str) -> None:
    image, src = make_image(gimp2)
    gimp2.stylize(image, src, daemon_address, style="", style_name="great_wave")
    assert gimp2.gimp.state.messages == []
    by_name = image.layers[0]
    gimp2.stylize(image, src, daemon_address, style=str(STYLES / "great_wave.jpg"))
    by_file = image.layers[image.layers.index(src) - 1]
    assert by_name.name == "Photo (great_wave)" and by_name.pixels() == by_file.pixels()
    gimp2.stylize(image, src, daemon_address, style_name="no_such_style")
    assert "unknown style 'no_such_style'" in gimp2.gimp.state.messages[-1]


def test_in_place_replaces_the_layers_pixels_in_one_undo_step(
    gimp2: Gimp2, daemon_address: str
) -> None:
    image, src = make_image(gimp2)
    before, undo_before = src.pixels(), image.undo_steps
    gimp2.stylize(image, src, daemon_address, output=1)
    assert gimp2.gimp.state.messages == []
    assert image.layers == [src] and src.name == "Photo"  # no new layer
    assert mean_diff(src.pixels(), before) > 20
    steps = image.undo_steps
    assert len(steps) == len(undo_before) + 1 and steps[-1] == ["merge shadow of Photo"]


@pytest.mark.slow
def test_in_place_failure_leaves_the_layer_alone(gimp2: Gimp2) -> None:
    image, src = make_image(gimp2)
    before, undo_before = src.pixels(), image.undo_steps
    gimp2.stylize(image, src, f"127.0.0.1:{free_port()}", output=1)
    assert "Cannot reach the Stylize daemon" in gimp2.gimp.state.messages[-1]
    assert src.pixels() == before and image.undo_steps == undo_before


# --- animations: every layer a frame, one sequence, a new image --------------------------


def animation_image(gimp2: Gimp2, sprite: bool = False):
    """Three 48x32 frames named with their timings (bottom first), the picture moving;
    with ``sprite`` the top frame is a smaller layer partly outside the canvas."""
    g, e = gimp2.gimp, gimp2.gimpfu
    image = g.Image(48, 32, e.RGB)
    picture = pattern(60, 32, 3)
    for index in range(3):
        small = sprite and index == 2
        width, height = (20, 10) if small else (48, 32)
        layer = g.Layer(image, f"Frame {index + 1} ({100 * (index + 1)}ms)", width, height,
                        e.RGB_IMAGE, 100.0, e.NORMAL_MODE)  # fmt: skip
        image.insert_layer(layer, None, 0)  # each frame on top of the previous one
        rows = [picture[(y * 60 + 4 * index) * 3 :][: width * 3] for y in range(height)]
        rgn = layer.get_pixel_rgn(0, 0, width, height, True, False)
        rgn[0:width, 0:height] = b"".join(rows)
        layer.flush()
        if small:
            layer.set_offsets(30, -2)
    image._undo.clear()  # the test's own set-up is not the plug-in's doing
    return image


def run_animation(gimp2: Gimp2, image, address: str, consistent: bool = True):
    params = (STYLE, 1.0, "", 1.0, "", 1.0, address, False, 0, "", 1.0, consistent)
    mode = gimp2.gimpfu.RUN_NONINTERACTIVE
    return gimp2.gimpfu._run("python-fu-stylize-animation", (mode, image, image.layers[0], *params))


def test_animation_registers_under_filters_animation(gimp2: Gimp2) -> None:
    proc = gimp2.gimpfu._registered_plugins_["python-fu-stylize-animation"]
    assert proc["menu"] == "<Image>/Filters/Animation"
    assert proc["results"][0][0] == gimp2.gimpfu.PF_IMAGE


def test_an_animation_becomes_a_new_image_of_stylized_frames(
    gimp2: Gimp2, daemon_address: str
) -> None:
    image = animation_image(gimp2)
    before = [(layer.name, layer.pixels()) for layer in image.layers]
    new = run_animation(gimp2, image, daemon_address)
    assert not gimp2.gimp.state.messages, gimp2.gimp.state.messages
    assert [(layer.name, layer.pixels()) for layer in image.layers] == before  # untouched
    assert image.undo_steps == []
    names = ["Frame 3 (300ms)", "Frame 2 (200ms)", "Frame 1 (100ms)"]  # top to bottom
    assert [layer.name for layer in new.layers] == names
    assert new.undo_steps == [] and new.undo_is_enabled()  # its history starts here
    assert gimp2.gimp.state.displays == [new]
    for layer, (_, source) in zip(new.layers, before, strict=True):
        assert (layer.width, layer.height, layer.offsets, layer.type) == (48, 32, (0, 0), 0)
        assert (
            mean_abs_diff(np.frombuffer(layer.pixels(), np.uint8), np.frombuffer(source, np.uint8))
            > 10
        )
    assert new.layers[0].pixels() != new.layers[1].pixels()


def test_an_animation_with_a_smaller_frame_keeps_its_place(
    gimp2: Gimp2, daemon_address: str
) -> None:
    image = animation_image(gimp2, sprite=True)
    gimp2.gimp.state.batch = True  # a script in `gimp -i`: no display, the image returned
    new = run_animation(gimp2, image, daemon_address, consistent=False)
    assert not gimp2.gimp.state.messages and gimp2.gimp.state.displays == []
    sprite, *frames = new.layers
    assert (sprite.name, sprite.width, sprite.height, sprite.offsets) == (
        "Frame 3 (300ms)", 18, 8, (30, 0))  # fmt: skip
    assert all(layer.has_alpha for layer in new.layers)  # the sprite's frame is transparent
    assert [(f.width, f.height, f.offsets) for f in frames] == [(48, 32, (0, 0))] * 2
    assert all(f.pixels()[3::4] == b"\xff" * (48 * 32) for f in frames)  # opaque frames


@pytest.mark.slow
def test_an_animation_with_no_daemon_leaves_everything_alone(gimp2: Gimp2) -> None:
    image = animation_image(gimp2)
    before = [layer.pixels() for layer in image.layers]
    assert run_animation(gimp2, image, f"127.0.0.1:{free_port()}") is None
    assert "Cannot reach the Stylize daemon" in gimp2.gimp.state.messages[0]
    assert [layer.pixels() for layer in image.layers] == before and image.undo_steps == []
    assert gimp2.gimp.state.displays == []
