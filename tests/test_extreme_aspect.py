"""Thin and wide content through both methods (issue 18, defect 0): the daemon survives.

A 16x16384 optimisation once met a style resized to the content's long side
(16384x10240): tens of GB of VGG19 activations, a SIGSEGV in TensorFlow or an OOM kill.
Styles are now sized within an area cap (schedule.style_size) and the memory estimate
counts them, so the same request under --memory-budget-mb 1200 is refused with
TOO_LARGE_FOR_MEMORY and a field, and smaller thin shapes run.
"""

from __future__ import annotations

from collections.abc import Iterator

import fuzz_cases
import grpc
import pytest
from conftest import DaemonProcess, start_daemon, stop_daemon, wait_serving
from stylize.v1 import stylize_pb2 as pb
from test_hardening import details


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    daemon = start_daemon(
        tmp_path_factory.mktemp("aspect") / "daemon.log", "--memory-budget-mb", "1200"
    )
    yield daemon
    stop_daemon(daemon)


def _requests(width: int, height: int, method: int, iterations: int = 1) -> list:
    raw = pb.RawImage(width=width, height=height, format=pb.PIXEL_FORMAT_RGB8)
    data = bytes(range(256)) * (width * height * 3 // 256) + bytes(width * height * 3 % 256)
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(raw=raw, total_bytes=len(data)),
        styles=[pb.StyleSource(named="starry_night")],
        method=method,  # type: ignore[arg-type]
    )
    if method == pb.METHOD_OPTIMIZE:
        setup.optimize.iterations = iterations
    chunks = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    return [pb.StylizeRequest(setup=setup)] + [pb.StylizeRequest(content_chunk=c) for c in chunks]


def _call(address: str, requests: list) -> grpc.RpcError | None:
    with grpc.insecure_channel(address) as channel:
        stub = fuzz_cases.stylize_pb2_grpc.StyleTransferStub(channel)
        try:
            for _ in stub.Stylize(iter(requests), timeout=120):
                pass
        except grpc.RpcError as error:
            return error
    return None


def test_thin_optimisation_past_the_budget_is_refused_with_a_field(
    budgeted: DaemonProcess,
) -> None:
    """The issue's request: 16x16384, starry_night, 1 iteration, under a 1200 MiB budget
    (the issue's 1800 MiB now fits it: about 1350 MiB with VGG19 in bfloat16)."""
    error = _call(budgeted.address, _requests(16, 16384, pb.METHOD_OPTIMIZE))
    assert error is not None, "ran: it needs more than the 1200 MiB budget"
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    found = details(error)
    assert found["reason"] == "TOO_LARGE_FOR_MEMORY" and "options.max_side" in found["fields"]
    assert budgeted.process.poll() is None
    wait_serving(budgeted.address, timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("width", "height", "method"),
    [
        (16, 2048, pb.METHOD_OPTIMIZE),
        (2048, 16, pb.METHOD_OPTIMIZE),
        (16, 16384, pb.METHOD_FAST),
        (16384, 16, pb.METHOD_FAST),
        (17, 5000, pb.METHOD_FAST),
    ],
)
def test_thin_and_wide_content_runs(budgeted: DaemonProcess, width, height, method) -> None:
    error = _call(budgeted.address, _requests(width, height, method))
    assert error is None, f"{error.code().name}: {error.details()}"
    assert budgeted.process.poll() is None
