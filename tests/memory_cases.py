"""Hostile requests aimed at the memory budget, and a runner that reads each refusal's reasons.

Shared by tests/test_memory_safety.py (a short run) and bench/memory_safety.py (the long
one). Each case is a real request that costs the daemon far more memory than it costs to
send (issue 18): encoded content that decodes big (all-zero PNGs of up to 8192², 8-bit
RGB and 16-bit RGBA), thin and wide content through both methods, optimisations with many
8192² style images or an 8192² ``init_image``, AddStyle with 8192² 16-bit RGBA PNGs in
parallel, ListStyles decoding their thumbnails, big masks, big styles to PredictStyle.
The images are all-zero or flat, so they compress to almost nothing: the daemon sees
gigabytes for kilobytes.

:func:`run` returns an :class:`Outcome`: the status, and for a refusal the ErrorInfo
reason and whether it carried RetryInfo, so a test can check that every refusal is one
of :data:`MEMORY_REASONS` or another documented one.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

MEMORY_REASONS = frozenset({"TOO_LARGE_FOR_MEMORY", "MEMORY_BUSY"})
# Other documented refusals these requests may meet: a full queue or too many calls
# at once (BUSY), --max-pixels / --max-side (LIMIT_EXCEEDED), and invalid input.
OTHER_REASONS = frozenset(
    {"BUSY", "LIMIT_EXCEEDED", "INVALID_ARGUMENT", "UNSUPPORTED_FORMAT", "TOO_MANY_STYLES"}
)
OK_CODES = frozenset({"OK", "ALREADY_EXISTS"})
NAMED = ("starry_night", "great_wave", "shipwreck", "dance_foyer")
CHUNK = 1 << 20


# -- images that decode big ----------------------------------------------------------------


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + crc


@cache
def flat_png(width: int, height: int, kind: str = "RGB8", value: int = 0) -> bytes:
    """A PNG of ``width`` x ``height`` pixels all of one ``value`` byte, compressed streaming.

    ``kind``: RGB8, RGBA16 (16-bit RGBA), GRAY8. An 8192² RGBA16 file is ~0.5 MB and
    decodes to 512 MiB.
    """
    depth, colour, channels = {"RGB8": (8, 2, 3), "RGBA16": (16, 6, 4), "GRAY8": (8, 0, 1)}[kind]
    row = b"\0" + bytes([value]) * (width * channels * depth // 8)
    packer = zlib.compressobj(9)
    parts = []
    rows_per_block = max(1, (1 << 22) // len(row))
    block = row * rows_per_block
    left = height
    while left:
        take = min(left, rows_per_block)
        parts.append(packer.compress(block if take == rows_per_block else row * take))
        left -= take
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    body = _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


# -- cases ---------------------------------------------------------------------------------


@dataclass
class Case:
    kind: str  # what the case attacks (counted in reports)
    method: str  # Stylize | PredictStyle | ListStyles | AddStyle
    messages: list = field(default_factory=list)
    shape: str = ""  # the sizes that matter, for reports
    timeout: float = 120.0

    def describe(self) -> str:
        """The kind and sizes, and the setup's fields other than image bytes."""
        text = f"{self.kind} {self.shape}"
        first = self.messages[0] if self.messages else None
        if isinstance(first, pb.StylizeRequest):
            setup = pb.StylizeSetup()
            setup.CopyFrom(first.setup)
            for style in setup.styles:
                if style.HasField("encoded"):
                    style.encoded = b"..."
            setup.optimize.init_image = b"..." if setup.optimize.init_image else b""
            text += " " + " ".join(str(setup).split())
        return text


def _stylize(setup: pb.StylizeSetup, content: bytes) -> list:
    setup.content.total_bytes = len(content)
    chunks = [content[i : i + CHUNK] for i in range(0, len(content), CHUNK)]
    return [pb.StylizeRequest(setup=setup)] + [pb.StylizeRequest(content_chunk=c) for c in chunks]


SIDES = st.sampled_from((2048, 4096, 6000, 8192))


@st.composite
def big_content(draw: st.DrawFn) -> Case:
    """Fast method on content that decodes to up to 8192² (8-bit RGB or 16-bit RGBA)."""
    kind = draw(st.sampled_from(("RGB8", "RGBA16")))
    width, height = draw(SIDES), draw(SIDES)
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(encoded=pb.EncodedKind()),
        styles=[pb.StyleSource(named=draw(st.sampled_from(NAMED)))],
        options=pb.StylizeOptions(max_side=draw(st.sampled_from((0, 0, 1024)))),
    )
    content = flat_png(width, height, kind)
    return Case(f"big content {kind}", "Stylize", _stylize(setup, content), f"{width}x{height}")


@st.composite
def thin_content(draw: st.DrawFn) -> Case:
    """16 px across and up to 16384 long, through both methods."""
    long = draw(st.sampled_from((4096, 16384)))
    width, height = (16, long) if draw(st.booleans()) else (long, 16)
    optimize = draw(st.booleans())
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(encoded=pb.EncodedKind()),
        styles=[pb.StyleSource(named=draw(st.sampled_from(NAMED)))],
    )
    if optimize:
        setup.method = pb.METHOD_OPTIMIZE
        setup.optimize.iterations = 1
        setup.optimize.style_scale = draw(st.sampled_from((0.25, 1.0, 4.0)))
    name = f"thin {'optimize' if optimize else 'fast'}"
    content = flat_png(width, height, "RGB8", 128)
    return Case(name, "Stylize", _stylize(setup, content), f"{width}x{height}")


@st.composite
def many_big_styles(draw: st.DrawFn) -> Case:
    """A 48x40 optimisation (or fast job) against several 8192² style images."""
    count = draw(st.sampled_from((2, 8, 16)))
    side = draw(st.sampled_from((4096, 8192)))
    optimize = draw(st.booleans())
    kind = draw(st.sampled_from(("RGB8", "RGBA16")))
    style = flat_png(side, side, kind)
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(encoded=pb.EncodedKind()),
        styles=[pb.StyleSource(encoded=style) for _ in range(count)],
    )
    if optimize:
        setup.method = pb.METHOD_OPTIMIZE
        setup.optimize.iterations = 1
    name = f"many big styles {'optimize' if optimize else 'fast'}"
    content = flat_png(48, 40, "RGB8", 90)
    return Case(name, "Stylize", _stylize(setup, content), f"{count} x {side}² {kind}")


@st.composite
def big_init_image(draw: st.DrawFn) -> Case:
    """A small optimisation whose init_image decodes to up to 8192²."""
    side = draw(st.sampled_from((4096, 8192)))
    kind = draw(st.sampled_from(("RGB8", "RGBA16")))
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(encoded=pb.EncodedKind()),
        styles=[pb.StyleSource(named=draw(st.sampled_from(NAMED)))],
        method=pb.METHOD_OPTIMIZE,
        optimize=pb.OptimizeOptions(
            iterations=1,
            init=pb.OptimizeOptions.INIT_IMAGE,
            init_image=flat_png(side, side, kind),
        ),
    )
    content = flat_png(48, 40, "RGB8", 90)
    return Case("big init image", "Stylize", _stylize(setup, content), f"{side}² {kind}")


@st.composite
def big_mask(draw: st.DrawFn) -> Case:
    """A fast job whose strength map or style region (the content's size) decodes big."""
    width, height = draw(st.sampled_from(((4096, 3072), (8192, 4096))))
    mask = pb.Mask(encoded=flat_png(width, height, "GRAY8", 255))
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(encoded=pb.EncodedKind()),
        styles=[pb.StyleSource(named=draw(st.sampled_from(NAMED)))],
    )
    if draw(st.booleans()):
        setup.strength_map.CopyFrom(mask)
    else:
        setup.styles[0].region.CopyFrom(mask)
    content = flat_png(width, height, "RGB8", 90)
    return Case("big mask", "Stylize", _stylize(setup, content), f"{width}x{height}")


@st.composite
def add_big_style(draw: st.DrawFn) -> Case:
    """AddStyle with an 8192² 16-bit RGBA PNG (~0.5 MB, 512 MiB decoded), a fresh name."""
    name = draw(st.from_regex(r"mem_[a-z0-9]{8}", fullmatch=True))
    side = draw(st.sampled_from((4096, 8192)))
    value = draw(st.sampled_from((0, 255)))
    image = flat_png(side, side, "RGBA16", value)
    request = pb.AddStyleRequest(name=name, image=image)
    return Case("add big style", "AddStyle", [request], f"{side}² RGBA16")


@st.composite
def list_thumbnails(draw: st.DrawFn) -> Case:
    """ListStyles with thumbnails: decodes every added big style (cached per file version)."""
    side = draw(st.sampled_from((64, 128)))
    request = pb.ListStylesRequest(page_size=draw(st.sampled_from((10, 100))), thumbnail_side=side)
    return Case("list thumbnails", "ListStyles", [request])


@st.composite
def predict_big_style(draw: st.DrawFn) -> Case:
    side = draw(st.sampled_from((4096, 8192)))
    kind = draw(st.sampled_from(("RGB8", "RGBA16")))
    style = pb.StyleSource(encoded=flat_png(side, side, kind))
    request = pb.PredictStyleRequest(style=style)
    return Case("predict big style", "PredictStyle", [request], f"{side}² {kind}")


KINDS = (
    big_content,
    thin_content,
    many_big_styles,
    big_init_image,
    big_mask,
    add_big_style,
    add_big_style,
    list_thumbnails,
    predict_big_style,
)


# -- cheap hostile requests: refused or served in milliseconds (the long run's filler) -----


@st.composite
def bomb_header(draw: st.DrawFn) -> Case:
    """A tiny PNG whose header claims more pixels than the daemon accepts (16384² or a
    side of 65535): refused from the header, before a pixel is decoded."""
    width, height = draw(st.sampled_from(((16384, 16384), (65535, 16), (16, 65535))))
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(encoded=pb.EncodedKind()),
        styles=[pb.StyleSource(named=draw(st.sampled_from(NAMED)))],
    )
    small = flat_png(16, 16, "RGBA16")  # its IHDR chunk (bytes 8..33) replaced
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0))
    claimed = small[:8] + ihdr + small[33:]
    return Case("bomb header", "Stylize", _stylize(setup, claimed), f"{width}x{height}")


@st.composite
def taken_name(draw: st.DrawFn) -> Case:
    """AddStyle under a bundled style's name (refused before its image is decoded)."""
    name = draw(st.sampled_from(NAMED))
    request = pb.AddStyleRequest(name=name, image=flat_png(8192, 8192, "RGBA16"))
    return Case("taken name", "AddStyle", [request], "8192² RGBA16")


@st.composite
def small_job(draw: st.DrawFn) -> Case:
    """A 48x40 fast job at some strength: the ordinary request between the hostile ones."""
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(encoded=pb.EncodedKind()),
        styles=[pb.StyleSource(named=draw(st.sampled_from(NAMED)))],
        strength=draw(st.sampled_from((0.5, 1.0))),
    )
    return Case("small job", "Stylize", _stylize(setup, flat_png(48, 40, "RGB8", 90)), "48x40")


CHEAP_KINDS = (bomb_header, taken_name, small_job)


def hostile_case() -> st.SearchStrategy[Case]:
    return st.one_of(*(kind() for kind in KINDS))


def hostile_batch(repeat: int = 1, cheap: int = 0) -> st.SearchStrategy[list[Case]]:
    """``repeat`` cases of every kind (AddStyle twice) and ``cheap`` of each of CHEAP_KINDS,
    in a drawn order: a balanced mix (``st.one_of`` alone favours its first branch in
    Hypothesis's generation)."""
    kinds = [kind for kind in KINDS for _ in range(repeat)]
    kinds += [kind for kind in CHEAP_KINDS for _ in range(cheap)]
    each = st.tuples(*(kind() for kind in kinds))
    return each.flatmap(lambda cases: st.permutations(list(cases)))


# -- running a case -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    code: str  # OK or a gRPC status code's name
    reason: str = ""  # the ErrorInfo reason of a refusal ("" if none was sent)
    retry: bool = False  # the refusal carried RetryInfo
    details: str = ""

    def problem(self) -> str | None:
        """Why this outcome breaks the memory-safety contract, or None."""
        if self.code in OK_CODES:
            return None
        if not self.reason:
            return f"{self.code} without an ErrorInfo reason: {self.details}"
        if self.code == "RESOURCE_EXHAUSTED":
            if self.reason in MEMORY_REASONS or self.reason in {"BUSY", "LIMIT_EXCEEDED"}:
                if self.reason in {"MEMORY_BUSY", "BUSY"} and not self.retry:
                    return f"{self.reason} without RetryInfo: {self.details}"
                return None
            return f"RESOURCE_EXHAUSTED {self.reason}: {self.details}"
        if self.code == "INVALID_ARGUMENT" and self.reason in OTHER_REASONS:
            return None
        return f"{self.code} {self.reason}: {self.details}"


def _outcome(error: grpc.RpcError) -> Outcome:
    reason, retry = "", False
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = True
    return Outcome(error.code().name, reason, retry, (error.details() or "")[:300])


def run(channel: grpc.Channel, case: Case) -> Outcome:
    stub = stylize_pb2_grpc.StyleTransferStub(channel)
    try:
        if case.method == "Stylize":
            for _ in stub.Stylize(iter(case.messages), timeout=case.timeout):
                pass
        else:
            getattr(stub, case.method)(case.messages[0], timeout=case.timeout)
    except grpc.RpcError as error:
        return _outcome(error)
    return Outcome("OK")


@dataclass
class Tally:
    """What a run saw, filled from the worker threads."""

    outcomes: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, case: Case, outcome: Outcome) -> None:
        label = outcome.code + (f" {outcome.reason}" if outcome.reason else "")
        problem = outcome.problem()
        with self.lock:
            self.outcomes[label] += 1
            self.kinds[f"{case.kind}: {label}"] += 1
            if problem is not None:
                self.problems.append(f"{problem}  <- {case.describe()[:400]}")

    @property
    def requests(self) -> int:
        return sum(self.outcomes.values())


def hammer(
    address: str,
    requests: int,
    batch: int,
    run_seed: int,
    threads: int,
    alive: Callable[[], bool],
    tally: Tally | None = None,
    cheap: int = 0,
) -> Tally:
    """About ``requests`` hostile cases, drawn in batches of about ``batch`` by Hypothesis
    (seeded: the same seed replays the same cases; each batch has every kind, and
    ``cheap`` of each cheap kind, see :func:`hostile_batch`), each batch run from
    ``threads`` threads at once; stops sending once ``alive()`` is false."""
    tally = tally if tally is not None else Tally()
    repeat = max(1, round(batch / len(KINDS)))
    batch = repeat * len(KINDS) + cheap * len(CHEAP_KINDS)

    @seed(run_seed)
    @settings(
        max_examples=max(1, requests // batch),
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_batch(repeat, cheap))
    def one_batch(cases: list[Case]) -> None:
        if alive():
            drive(address, cases, threads, tally.add, alive)

    one_batch()
    return tally


def drive(
    address: str,
    cases: list[Case],
    threads: int,
    on_done: Callable[[Case, Outcome], None],
    alive: Callable[[], bool] = lambda: True,
) -> None:
    """Run ``cases`` from ``threads`` threads, each on its own channel (its own connection),
    calling ``on_done`` (from the worker threads) with each outcome, until ``alive()`` is
    false."""
    lock = threading.Lock()
    queue = list(reversed(cases))

    def worker() -> None:
        options = [("grpc.max_send_message_length", 64 << 20)]
        with grpc.insecure_channel(address, options=options) as channel:
            while True:
                with lock:
                    if not queue or not alive():
                        return
                    case = queue.pop()
                on_done(case, run(channel, case))

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
