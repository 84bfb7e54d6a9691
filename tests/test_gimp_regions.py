"""Regions on the GIMP side (stylize_gimp.regions), without GIMP: the masks' bytes, where
they are read from, the checks made before anything is sent, and how they travel."""

from __future__ import annotations

import struct
import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "gimp_plugin"))
from stylize_gimp import core, dialog_layout, protocol, regions


def grey(width: int, height: int, values) -> core.Mask:
    return core.Mask(width, height, "8", bytes(values))


# --- masks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "fmt", "full"), [("8", "<B", 255), ("16", "<H", 65535), ("float", "<f", 1.0)]
)
def test_outside_is_the_inverse_at_every_depth(depth: str, fmt: str, full) -> None:
    values = [0, full, full / 5 if depth == "float" else full // 5, full]
    data = b"".join(struct.pack(fmt.replace("<", "="), v) for v in values)
    mask = core.Mask(2, 2, depth, data)
    inverse = mask.inverted()
    back = [
        struct.unpack(fmt.replace("<", "="), inverse.data[i : i + struct.calcsize(fmt)])[0]
        for i in range(0, len(data), struct.calcsize(fmt))
    ]
    assert back == pytest.approx([full - v for v in values])
    if depth != "float":  # float32 rounds 1 - (1 - v)
        assert inverse.inverted().data == mask.data
    assert mask.header() == {
        "width": 2,
        "height": 2,
        "size": len(data),
        "format": {"8": "GRAY8", "16": "GRAY16", "float": "GRAYF32"}[depth],
    }


def test_empty_means_black_everywhere() -> None:
    assert grey(2, 1, [0, 0]).is_empty() and not grey(2, 1, [0, 1]).is_empty()
    assert core.Mask(1, 1, "float", struct.pack("=f", 0.0)).is_empty()


def test_a_mask_of_the_wrong_length_is_a_bug_caught_early() -> None:
    with pytest.raises(ValueError, match="3 bytes for 2x2"):
        core.Mask(2, 2, "8", b"abc")


# --- where masks are read from ----------------------------------------------------------


def test_the_selection_and_channels_are_read_in_image_coordinates_a_layer_mask_in_the_layers() -> (
    None
):
    region = core.plan_region((10, 6), (4, 5, 20, 30), True)  # a box inside a layer at (10, 6)
    assert core.mask_origin("selection", region) == (14, 11)
    assert core.mask_origin("channel", region) == (14, 11)
    assert core.mask_origin("layer-mask", region) == (4, 5)


def test_regions_that_use_the_selection_stylize_the_whole_layer() -> None:
    assert core.uses_selection([core.Where(), core.Where("outside")])
    assert not core.uses_selection([core.Where("channel", object(), "sky"), core.Where()])
    layer = core.whole_layer((10, 6), 96, 64)
    assert (
        layer.x,
        layer.y,
        layer.width,
        layer.height,
        layer.image_x,
        layer.image_y,
        layer.masked,
    ) == (0, 0, 96, 64, 10, 6, False)


def test_a_mask_partly_off_the_canvas_reads_the_inside_and_is_black_outside() -> None:
    """GIMP 2.10's selection is the canvas's size: pixel regions cannot read past it."""
    canvas = bytes(range(4 * 3))  # 4x3, value = index
    reads = []

    def read_rect(x, y, w, h):
        reads.append((x, y, w, h))
        return b"".join(canvas[(y + r) * 4 + x : (y + r) * 4 + x + w] for r in range(h))

    mask = core.read_clipped(read_rect, 2, -1, 3, 3, (4, 3))  # x 2..4, y -1..1
    assert reads == [(2, 0, 2, 2)]
    assert list(mask.data) == [0, 0, 0, 2, 3, 0, 6, 7, 0]
    assert core.read_clipped(read_rect, 10, 10, 2, 2, (4, 3)).is_empty()  # all outside


class Reader:
    """read(kind, channel) as the entries give it, counting reads."""

    def __init__(self, masks: dict) -> None:
        self.masks, self.calls = masks, []

    def __call__(self, kind, channel):
        self.calls.append((kind, channel))
        return self.masks[channel if kind == "channel" else kind]


LEFT = grey(2, 1, [255, 0])


def test_inside_and_outside_read_the_selection_once() -> None:
    read = Reader({"selection": LEFT, "sky": grey(2, 1, [9, 9])})
    wheres = [core.Where("inside"), core.Where("outside"), core.Where()]
    masks, strength = core.read_masks(wheres, "sky", read)
    assert [list(m.data) if m else None for m in masks] == [[255, 0], [0, 255], None]
    assert list(strength.data) == [9, 9]
    assert read.calls == [("selection", None), ("channel", "sky")]


@pytest.mark.parametrize(
    ("where", "words"),
    [
        (core.Where("inside"), "The selection is empty over the layer: style 1"),
        (core.Where("channel", "sky", "Sky"), 'The channel "Sky" is black over the layer'),
        (core.Where("layer-mask"), "The layer mask is black everywhere: style 1"),
    ],
)
def test_an_empty_region_is_refused_before_anything_is_sent(where, words: str) -> None:
    black = grey(2, 1, [0, 0])
    read = Reader({"selection": black, "sky": black, "layer-mask": black})
    with pytest.raises(core.StylizeError, match=words):
        core.read_masks([where], None, read)


def test_outside_a_selection_that_covers_everything_is_refused() -> None:
    read = Reader({"selection": grey(2, 1, [255, 255])})
    with pytest.raises(core.StylizeError, match="covers the whole layer: style 2"):
        core.read_masks([core.Where("inside"), core.Where("outside")], None, read)


def test_a_black_strength_map_is_refused() -> None:
    with pytest.raises(core.StylizeError, match="strength map channel is black"):
        core.read_masks([core.Where()], "map", Reader({"map": grey(2, 1, [0, 0])}))


@pytest.mark.parametrize(
    ("wheres", "selection", "layer_mask", "output", "words"),
    [
        ([core.Where("inside")], False, False, "new-layer", "nothing is selected"),
        (
            [core.Where(), core.Where("channel")],
            True,
            True,
            "new-layer",
            "Style 2 paints in a channel",
        ),
        ([core.Where("layer-mask")], True, False, "new-layer", "the layer has none"),
        ([core.Where("outside")], True, False, "in-place", "choose Output: New layer"),
    ],
)
def test_choices_that_cannot_work_are_refused_first(
    wheres, selection, layer_mask, output, words
) -> None:
    with pytest.raises(core.StylizeError, match=words):
        core.check_choices(wheres, selection, layer_mask, output)


def test_fine_choices_pass() -> None:
    core.check_choices([core.Where("inside"), core.Where("layer-mask")], True, True)


def test_where_from_a_name_or_an_option_index() -> None:
    assert core.Where(2).kind == "outside" and core.Where("channel").kind == "channel"
    with pytest.raises(core.StylizeError, match="Unknown region 'sky'"):
        core.Where("sky")


def test_gimp2_split_option() -> None:
    assert [w.kind for w in core.split_wheres(0, 1)] == ["everywhere"] * 3
    assert [w.kind for w in core.split_wheres(1, 2)] == ["inside", "outside", "everywhere"]
    with pytest.raises(core.StylizeError, match="needs a second style"):
        core.split_wheres(1, 1)


# --- requests -----------------------------------------------------------------------------


def test_regions_follow_their_styles_when_a_slot_is_skipped() -> None:
    wheres = [core.Where("inside"), core.Where("outside"), core.Where("layer-mask")]
    request = core.make_request(1.0, "", [("a.jpg", 1), ("", 1), ("c.jpg", 2)], wheres=wheres)
    assert [w.kind for w in request.wheres] == ["inside", "layer-mask"]
    assert request.masks == [None, None] and request.strength_map is None


def test_masks_travel_after_the_style_files_in_little_endian(tmp_path) -> None:
    style = tmp_path / "a.jpg"
    style.write_bytes(b"painting")
    request = core.make_request(1.0, "", [(str(style), 1), (str(style), 1)])
    wide = core.Mask(2, 1, "16", struct.pack("=HH", 1, 65535))
    request.masks = [None, wide]
    request.strength_map = LEFT
    settings = {"address": "x:1", "timeout": 1, "connect_timeout": 1}
    header, blobs = core.build_request(
        b"\0" * 6, 2, 1, core.PixelFormat(False, False), request, settings
    )
    assert "region" not in header["styles"][0]
    assert header["styles"][1]["region"] == {"width": 2, "height": 1, "format": "GRAY16", "size": 4}
    assert header["strength_map"]["format"] == "GRAY8"
    assert blobs[3:] == [struct.pack("<HH", 1, 65535), bytes([255, 0])]
    assert protocol.encode_request(header, blobs)  # sizes agree with the framing


def test_preview_requests_keep_their_regions() -> None:
    request = core.make_request(1.0, "", [("a.jpg", 1)], wheres=[core.Where("inside")])
    small = core.preview_request(request, 0.25)
    assert small.wheres[0].kind == "inside"
    small.masks = [LEFT]
    assert request.masks == [None]  # the preview's masks are its own


# --- the dialog ------------------------------------------------------------------------


def sensitive(**values):
    return dialog_layout.sensitivity({k.replace("_", "-"): v for k, v in values.items()})


def test_the_regions_page_offers_only_what_acts() -> None:
    one = sensitive(has_selection=True)
    assert one["region-1"] and not one["region-2"] and not one["region-3"]
    assert not one["region-channel-1"] and not one["regions-split"]  # one style: no split
    two = sensitive(style_2="/b.jpg", has_selection=True, region_2="channel")
    assert two["regions-split"] and two["region-2"] and two["region-channel-2"]
    assert not sensitive(style_2="/b.jpg", has_selection=False)["regions-split"]
    assert not sensitive(style_3="/c.jpg")["region-3"]  # a third style after a second


def test_the_split_button_sets_style_1_inside_and_style_2_outside() -> None:
    _, label, values = dialog_layout.SPLIT
    assert values == {"region-1": "inside", "region-2": "outside"}
    assert label.count("_") == 1 and set(values.values()) <= set(regions.WHERE)
