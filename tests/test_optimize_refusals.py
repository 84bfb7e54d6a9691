"""Issue 18's low items on the optimisation's options and colour preservation, through the
daemon: weights that overflow or leave nothing to optimise, ``optimize.scales`` refusals
naming their field, and ``preserve_colors`` on float content staying in 0..1."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc
from test_hardening import details

SIDE = 48


def _content() -> bytes:
    rng = np.random.default_rng(18)
    return rng.integers(0, 256, (SIDE, SIDE, 3), np.uint8).tobytes()


def _stylize(address: str, setup: pb.StylizeSetup, content: bytes) -> list[pb.StylizeEvent]:
    setup.content.total_bytes = len(content)
    requests = [pb.StylizeRequest(setup=setup), pb.StylizeRequest(content_chunk=content)]
    with grpc.insecure_channel(address) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        return list(stub.Stylize(iter(requests), timeout=120))


def _optimize(address: str, **options: object) -> list[pb.StylizeEvent]:
    raw = pb.RawImage(width=SIDE, height=SIDE, format=pb.PIXEL_FORMAT_RGB8)
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(raw=raw),
        styles=[pb.StyleSource(named="starry_night")],
        method=pb.METHOD_OPTIMIZE,
        optimize=pb.OptimizeOptions(iterations=2, **options),  # type: ignore[arg-type]
    )
    return _stylize(address, setup, _content())


def _refusal(address: str, **options: object) -> tuple[grpc.StatusCode, list, str]:
    with pytest.raises(grpc.RpcError) as caught:
        events = _optimize(address, **options)
        loss = [e.result.loss for e in events if e.HasField("result")]
        pytest.fail(f"accepted {options}: {loss}")
    error = caught.value
    return error.code(), details(error)["fields"], error.details()


BIG = 3.4e38  # a float32 that overflows once squared or summed


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"content_weight": BIG, "style_weight": BIG}, "optimize.content_weight"),
        ({"style_weight": BIG}, "optimize.style_weight"),
        (
            {"style_weight": BIG, "optimizer": pb.OptimizeOptions.OPTIMIZER_ADAM},
            "optimize.style_weight",
        ),
        ({"tv_weight": BIG}, "optimize.tv_weight"),
        ({"content_weight": 0.0, "style_weight": 0.0, "tv_weight": 0.0}, "optimize.style_weight"),
        ({"content_weight": 0.0, "style_weight": 0.0}, "optimize.style_weight"),
    ],
)
def test_weights_that_overflow_or_leave_nothing_are_refused(
    daemon_address: str, options: dict, field: str
) -> None:
    code, fields, message = _refusal(daemon_address, **options)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, message
    assert fields == [field], (fields, message)


def test_a_large_but_sane_weight_runs(daemon_address: str) -> None:
    events = _optimize(daemon_address, style_weight=1e6, content_weight=0.0)
    result = next(e.result for e in events if e.HasField("result"))
    assert result.iterations >= 1 and np.isfinite(result.loss.total), result


@pytest.mark.parametrize(
    "scales",
    [
        [64, 32],  # not increasing
        [8],  # below the smallest side
        [64, 4096],  # beyond the content
        [16, 24, 32],  # more scales than iterations (2)
        list(range(16, 16 + 9)),  # more than MAX_SCALES (8), all within the content
    ],
)
def test_scales_refusals_name_the_field(daemon_address: str, scales: list[int]) -> None:
    code, fields, message = _refusal(daemon_address, scales=scales)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, message
    assert fields == ["optimize.scales"], (fields, message)


@pytest.mark.parametrize(
    ("fmt", "channels"), [(pb.PIXEL_FORMAT_RGBF32, 3), (pb.PIXEL_FORMAT_GRAYF32, 1)]
)
@pytest.mark.parametrize("method", [pb.METHOD_FAST, pb.METHOD_OPTIMIZE])
def test_preserve_colors_keeps_float_content_in_0_to_1(
    daemon_address: str, fmt: int, channels: int, method: int
) -> None:
    rng = np.random.default_rng(7)
    values = rng.random((SIDE, SIDE, channels), np.float32)
    values[: SIDE // 2] = np.clip(values[: SIDE // 2] * 0.05 + 0.95, 0, 1)  # near white
    values[SIDE // 2 :] *= 0.05  # near black: where chroma added to luminance overshoots
    raw = pb.RawImage(width=SIDE, height=SIDE, format=fmt)  # type: ignore[arg-type]
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(raw=raw),
        styles=[pb.StyleSource(named="starry_night")],
        options=pb.StylizeOptions(preserve_colors=True, output_format=pb.OUTPUT_FORMAT_RAW),
        method=method,  # type: ignore[arg-type]
    )
    if method == pb.METHOD_OPTIMIZE:
        setup.optimize.iterations = 2
    events = _stylize(daemon_address, setup, values.tobytes())
    header = next(e.result for e in events if e.HasField("result"))
    data = b"".join(e.result_chunk for e in events if e.HasField("result_chunk"))
    assert header.image.format == fmt
    out = np.frombuffer(data, "<f4")
    assert out.size == SIDE * SIDE * channels
    assert out.min() >= 0.0 and out.max() <= 1.0, (float(out.min()), float(out.max()))
