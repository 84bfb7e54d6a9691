"""Hypothesis strategies for every field of every RPC, and one runner for a case.

Shared by tests/test_fuzz.py (a short run in the default suite) and bench/fuzz.py
(>= 10,000 cases). A case is a list of wire messages plus how to deliver them;
:func:`run_case` sends it to a daemon over loopback and returns the status name.
Every case must end in one of :data:`DOCUMENTED` (README "Daemon and limits").
"""

from __future__ import annotations

import io
import itertools
import struct
import threading
import zlib
from dataclasses import dataclass, field
from functools import cache

import grpc
import numpy as np
from hypothesis import strategies as st
from PIL import Image
from stylize.client.library import BYTES_PER_PIXEL
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

# What a request may end in. CANCELLED and DEADLINE_EXCEEDED only where the case
# itself cancels (a stalled stream we abandon) or sets a short deadline.
DOCUMENTED = frozenset({"OK", "INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED"})
ABANDONED = frozenset({"CANCELLED", "DEADLINE_EXCEEDED"})
CALL_TIMEOUT = 60.0  # a case still running then counts as a hang (DEADLINE_EXCEEDED)
NAMED = ("starry_night", "great_wave", "shipwreck", "dance_foyer")


# -- image bytes ------------------------------------------------------------------------

_FORMATS = {  # Pillow format -> modes it can store
    "PNG": ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"),
    "JPEG": ("RGB", "L", "CMYK"),
    "WEBP": ("RGB", "RGBA"),
    "TIFF": ("RGB", "RGBA", "L", "CMYK", "I;16", "F"),
    "BMP": ("RGB", "L", "P"),
    "GIF": ("P", "L"),
}


@cache
def base_image(fmt: str, mode: str, width: int, height: int) -> bytes:
    """A small real photo in ``fmt``/``mode``: the seed that mutations start from."""
    from conftest import sample_photo

    photo = sample_photo(width, height)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257)
    elif mode == "F":
        image = Image.fromarray(np.asarray(photo.convert("L"), np.float32))
    else:
        image = photo.convert(mode)
    stream = io.BytesIO()
    image.save(stream, format=fmt)
    return stream.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header that claims any size over a few bytes of data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


@st.composite
def _seed(draw: st.DrawFn) -> bytes:
    fmt = draw(st.sampled_from(sorted(_FORMATS)))
    mode = draw(st.sampled_from(_FORMATS[fmt]))
    size = st.sampled_from((1, 8, 15, 16, 17, 24, 33))
    return base_image(fmt, mode, draw(size), draw(size))


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """Flip, overwrite, insert, delete and truncate bytes of ``data``."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 6))):
        if not out:
            break
        where = draw(st.integers(0, len(out) - 1))
        action = draw(st.sampled_from(("flip", "set", "insert", "delete", "truncate")))
        if action == "flip":
            out[where] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            out[where] = draw(st.sampled_from((0, 0xFF, 0x7F, 0x80)))
        elif action == "insert":
            out[where:where] = draw(st.binary(max_size=16))
        elif action == "delete":
            del out[where : where + draw(st.integers(1, 64))]
        else:
            del out[where:]
    return bytes(out)


def image_bytes() -> st.SearchStrategy[bytes]:
    """Valid files, mutated ones, absurd declared sizes, and plain noise."""
    return st.one_of(
        _seed(),
        _seed().flatmap(mutated),
        st.builds(png_declaring, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)),
        st.binary(max_size=512),
    )


# -- message fields -----------------------------------------------------------------------

UINT32 = st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1))
FLOAT32 = st.floats(width=32, allow_nan=True, allow_infinity=True)


def raw_image(with_data: bool) -> st.SearchStrategy[pb.RawImage]:
    sides = st.one_of(st.integers(0, 40), st.integers(0, 2**32 - 1))
    fmt = st.integers(0, 14)  # 0 = unspecified, 13 and 14 are unknown to the daemon

    @st.composite
    def build(draw: st.DrawFn) -> pb.RawImage:
        width, height, kind = draw(sides), draw(sides), draw(fmt)
        data = b""
        if with_data:
            fits = width * height * 16 <= 1 << 16  # 16: the largest pixel (RGBAF32)
            known = kind in pb.PixelFormat.values()
            name = pb.PixelFormat.Name(kind).removeprefix("PIXEL_FORMAT_") if known else ""
            exact = bytes(width * height * BYTES_PER_PIXEL.get(name, 1)) if fits else b""
            data = draw(st.one_of(st.just(exact), st.binary(max_size=4096)))
        return pb.RawImage(width=width, height=height, format=kind, data=data)  # type: ignore[arg-type]

    return build()


def style_vector() -> st.SearchStrategy[pb.StyleVector]:
    lengths = st.one_of(st.just(100), st.integers(0, 300), st.just(100_000))
    values = st.one_of(
        st.floats(-3, 3, width=32), FLOAT32, st.sampled_from((float("nan"), float("inf")))
    )

    @st.composite
    def build(draw: st.DrawFn) -> pb.StyleVector:
        length = draw(lengths)
        if length > 1000:  # a huge repeated field: one value repeated, cheap to draw
            return pb.StyleVector(values=[draw(values)] * length)
        return pb.StyleVector(values=draw(st.lists(values, min_size=length, max_size=length)))

    return build()


def style_name() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NAMED),
        st.sampled_from(NAMED).map(lambda n: n + "\n"),
        st.text(max_size=40),
        st.sampled_from(("", ".", "..", "../../etc/passwd", "/etc/passwd", "a/b", "NUL\0x")),
        st.integers(1_000, 300_000).map(lambda n: "x" * n),
    )


@st.composite
def style_source(draw: st.DrawFn) -> pb.StyleSource:
    kind = draw(st.sampled_from(("encoded", "raw", "vector", "named", "none")))
    source = pb.StyleSource()
    if kind == "encoded":
        source.encoded = draw(image_bytes())
    elif kind == "raw":
        source.raw.CopyFrom(draw(raw_image(with_data=True)))
    elif kind == "vector":
        source.vector.CopyFrom(draw(style_vector()))
    elif kind == "named":
        source.named = draw(style_name())
    weight = draw(st.one_of(st.none(), st.just(1.0), FLOAT32))
    if weight is not None:
        source.weight = weight
    return source


@st.composite
def sane_style_source(draw: st.DrawFn) -> pb.StyleSource:
    """A style the daemon should accept, so the fuzz reaches the networks too."""
    kind = draw(st.sampled_from(("encoded", "vector", "named")))
    if kind == "encoded":
        return pb.StyleSource(encoded=draw(_seed()), weight=draw(st.floats(0.125, 2, width=32)))
    if kind == "vector":
        values = draw(st.lists(st.floats(-2, 2, width=32), min_size=100, max_size=100))
        return pb.StyleSource(vector=pb.StyleVector(values=values))
    return pb.StyleSource(named=draw(st.sampled_from(NAMED)))


def style_list() -> st.SearchStrategy[list[pb.StyleSource]]:
    many_named = st.integers(17, 20_000).map(lambda n: [pb.StyleSource(named=NAMED[0])] * n)
    return st.one_of(
        st.lists(style_source(), max_size=4),
        st.lists(sane_style_source(), min_size=1, max_size=3),
        many_named,
    )


@st.composite
def preprocess(draw: st.DrawFn) -> pb.StylePreprocess:
    size = draw(st.one_of(st.just(0), st.sampled_from((15, 16, 64, 1024, 1025)), UINT32))
    return pb.StylePreprocess(size=size, no_crop=draw(st.booleans()))


@st.composite
def options(draw: st.DrawFn) -> pb.StylizeOptions:
    return pb.StylizeOptions(
        style_preprocess=draw(preprocess()),
        output_format=draw(st.integers(0, 5)),  # type: ignore[arg-type]
        max_side=draw(st.one_of(st.just(0), st.integers(0, 40), UINT32)),
        preserve_colors=draw(st.booleans()),
        stroke_scale=draw(st.one_of(st.none(), st.floats(width=32), st.just(1 / 64))),
    )


# -- cases ------------------------------------------------------------------------------


@dataclass
class Case:
    method: str  # Stylize | PredictStyle | GetInfo | ListStyles | AddStyle
    messages: list = field(default_factory=list)
    stall: bool = False  # Stylize: after the messages, go silent, then abandon the call


@st.composite
def sane_setup(draw: st.DrawFn) -> tuple[pb.StylizeSetup, bytes]:
    """A setup and content the daemon should accept (seed images of 16+ px)."""
    side = st.sampled_from((16, 17, 24, 33))
    fmt = draw(st.sampled_from(sorted(_FORMATS)))
    content = base_image(fmt, draw(st.sampled_from(_FORMATS[fmt])), draw(side), draw(side))
    header = pb.ContentHeader(encoded=pb.EncodedKind(), total_bytes=len(content))
    setup = pb.StylizeSetup(
        content=header,
        styles=draw(st.lists(sane_style_source(), min_size=1, max_size=3)),
        options=pb.StylizeOptions(
            style_preprocess=pb.StylePreprocess(
                size=draw(st.sampled_from((0, 16, 64))), no_crop=draw(st.booleans())
            ),
            output_format=draw(st.integers(0, 2)),  # type: ignore[arg-type]
            max_side=draw(st.sampled_from((0, 0, 16, 20, 64))),
            preserve_colors=draw(st.booleans()),
            stroke_scale=draw(st.sampled_from((None, 1 / 64, 1.0, 16.0))),
        ),
    )
    strength = draw(st.one_of(st.none(), st.floats(0, 1, width=32)))
    if strength is not None:
        setup.strength = strength
    return setup, content


@st.composite
def any_setup(draw: st.DrawFn) -> tuple[pb.StylizeSetup, bytes]:
    """Every field drawn from its whole range."""
    if draw(st.booleans()):
        content = draw(image_bytes())
        header = pb.ContentHeader(encoded=pb.EncodedKind())
    else:
        raw = draw(raw_image(with_data=False))
        content = draw(
            st.one_of(
                st.just(bytes(min(raw.width * raw.height * max(raw.format, 1), 1 << 16))),
                st.binary(max_size=4096),
            )
        )
        header = pb.ContentHeader(raw=raw)
    declared = draw(
        st.one_of(st.just(len(content)), st.just(len(content)), st.integers(0, 2**64 - 1))
    )
    header.total_bytes = declared
    setup = pb.StylizeSetup(content=header, styles=draw(style_list()), options=draw(options()))
    strength = draw(st.one_of(st.none(), st.floats(0, 1, width=32), FLOAT32))
    if strength is not None:
        setup.strength = strength
    return setup, content


@st.composite
def stylize_case(draw: st.DrawFn) -> Case:
    """A Stylize stream: setup, chunks; sometimes truncated, padded, reordered or stalled."""
    sane = draw(st.booleans())
    setup, content = draw(sane_setup() if sane else any_setup())
    cut = sorted(draw(st.lists(st.integers(0, len(content)), max_size=4)))
    bounds = [0, *cut, len(content)]
    messages = [pb.StylizeRequest(setup=setup)] + [
        pb.StylizeRequest(content_chunk=content[a:b]) for a, b in itertools.pairwise(bounds)
    ]
    orders = ("as is",) if sane else ("as is", "as is", "drop", "repeat setup", "shuffle")
    order = draw(st.sampled_from(orders))
    if order == "drop":
        del messages[draw(st.integers(0, len(messages) - 1))]
    elif order == "repeat setup":
        messages.insert(draw(st.integers(1, len(messages))), messages[0])
    elif order == "shuffle":
        messages = draw(st.permutations(messages))
    stall = draw(st.integers(0, 255)) % 20 == 7  # about 1 in 20
    if stall:  # go silent after the setup, or part-way through the content
        messages = messages[: draw(st.integers(1, max(1, len(messages) - 1)))]
    return Case("Stylize", messages, stall=stall)


@st.composite
def predict_case(draw: st.DrawFn) -> Case:
    style = draw(st.one_of(style_source(), sane_style_source()))
    request = pb.PredictStyleRequest(style=style, preprocess=draw(preprocess()))
    return Case("PredictStyle", [request])


@st.composite
def info_case(draw: st.DrawFn) -> Case:
    """GetInfo has no fields: send it unknown ones (another message's bytes) instead."""
    request = pb.GetInfoRequest()
    request.ParseFromString(draw(predict_case()).messages[0].SerializeToString())
    return Case("GetInfo", [request])


@st.composite
def list_styles_case(draw: st.DrawFn) -> Case:
    request = pb.ListStylesRequest(
        page_size=draw(st.one_of(st.integers(0, 120), st.integers(0, 2**32 - 1))),
        page_token=draw(st.one_of(st.just(""), style_name())),
        thumbnail_side=draw(st.one_of(st.integers(0, 140), st.integers(0, 2**32 - 1))),
    )
    return Case("ListStyles", [request])


@st.composite
def add_style_case(draw: st.DrawFn) -> Case:
    """Mostly fresh valid names (so images reach the decoder), else any name; images
    include bombs: headers declaring sides past the daemon's limit (nothing decoded)."""
    fresh = st.from_regex(r"fuzz_[a-z0-9]{1,12}", fullmatch=True)
    name = draw(st.one_of(fresh, fresh, style_name()))
    side = st.integers(16_385, 2**31 - 1)
    image = draw(st.one_of(image_bytes(), st.builds(png_declaring, side, side)))
    return Case("AddStyle", [pb.AddStyleRequest(name=name, image=image)])


@st.composite
def thin_case(draw: st.DrawFn) -> Case:
    """Thin and wide content (down to 16 px across, up to 1:1024) through both methods:
    a 16x16384 optimisation once took the daemon down (issue 18); the shapes here are
    small enough to run, the refusal of the issue's own is tests/test_extreme_aspect.py."""
    short = draw(st.sampled_from((16, 17, 31)))
    long = draw(st.sampled_from((512, 1000, 2048) if draw(st.booleans()) else (4096, 16384)))
    width, height = (short, long) if draw(st.booleans()) else (long, short)
    content = base_image("PNG", "RGB", width, height)
    styles = draw(st.lists(sane_style_source(), min_size=1, max_size=2))
    optimize = long <= 2048 and draw(st.booleans())  # the optimisation, 1-2 iterations
    if optimize:  # it needs style images, not vectors
        styles = [s for s in styles if not s.HasField("vector")] or [pb.StyleSource(named=NAMED[0])]
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(encoded=pb.EncodedKind(), total_bytes=len(content)),
        styles=styles,
    )
    if optimize:
        setup.method = pb.METHOD_OPTIMIZE
        setup.optimize.iterations = draw(st.integers(1, 2))
        setup.optimize.style_scale = draw(st.sampled_from((0.25, 1.0, 4.0)))
    messages = [pb.StylizeRequest(setup=setup), pb.StylizeRequest(content_chunk=content)]
    return Case("Stylize", messages)


def cases() -> st.SearchStrategy[Case]:
    return st.one_of(
        *(stylize_case(), stylize_case(), stylize_case(), predict_case(), info_case()),
        *(list_styles_case(), add_style_case(), thin_case()),
    )  # fmt: skip


# -- running a case -----------------------------------------------------------------------

STALL_SECONDS = 0.3


def _stalling(messages: list, release: threading.Event):  # type: ignore[no-untyped-def]
    yield from messages
    release.wait(STALL_SECONDS * 20)  # silent; the call is cancelled long before


def run_case(channel: grpc.Channel, case: Case) -> str:
    """Send ``case``; return the final status name (``OK`` or a gRPC code)."""
    stub = stylize_pb2_grpc.StyleTransferStub(channel)
    try:
        if case.method != "Stylize":  # the unary RPCs
            getattr(stub, case.method)(case.messages[0], timeout=CALL_TIMEOUT)
        elif case.stall:
            release = threading.Event()
            call = stub.Stylize(_stalling(case.messages, release), timeout=CALL_TIMEOUT)
            timer = threading.Timer(STALL_SECONDS, call.cancel)
            timer.start()
            try:
                for _ in call:
                    pass
            finally:
                timer.cancel()
                release.set()
        else:
            for _ in stub.Stylize(iter(case.messages), timeout=CALL_TIMEOUT):
                pass
    except grpc.RpcError as error:
        return error.code().name  # type: ignore[no-any-return]
    return "OK"


def allowed(case: Case) -> frozenset[str]:
    if case.method == "AddStyle":
        return DOCUMENTED | {"ALREADY_EXISTS"}
    return DOCUMENTED | ABANDONED if case.stall else DOCUMENTED


def describe(case: Case, limit: int = 600) -> str:
    """A bounded, readable rendering of a case for failure reports."""
    text = f"{case.method} stall={case.stall} " + " | ".join(
        str(m).replace("\n", " ")[:200] for m in case.messages[:6]
    )
    return text[:limit]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
