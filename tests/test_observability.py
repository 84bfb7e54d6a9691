"""Observability: metrics after real calls, request ids in trailers and logs, reflection v1.

Uses the session daemon (started with ``--metrics-port 0``); tests here make
their calls with raw stubs, so they know exactly which calls the counters saw.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import grpc
import pytest
from conftest import DaemonProcess, encode, list_services, sample_photo, scrape_metrics
from stylize.client import library as client
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

STYLIZE = "stylize.v1.StyleTransfer/Stylize"
GET_INFO = "stylize.v1.StyleTransfer/GetInfo"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _requests(data: bytes, style: str) -> Iterator[pb.StylizeRequest]:
    content = pb.ContentHeader(encoded=pb.EncodedKind(), total_bytes=len(data))
    yield pb.StylizeRequest(
        setup=pb.StylizeSetup(content=content, styles=[client.named_style(style)])
    )
    yield pb.StylizeRequest(content_chunk=data)


@pytest.fixture
def stub(daemon_address: str) -> Iterator[stylize_pb2_grpc.StyleTransferStub]:
    with grpc.insecure_channel(daemon_address) as channel:
        yield stylize_pb2_grpc.StyleTransferStub(channel)


def test_counters_move_by_the_calls_made(
    stub: stylize_pb2_grpc.StyleTransferStub, daemon_process: DaemonProcess
) -> None:
    data = encode(sample_photo(32, 32))
    before = scrape_metrics(daemon_process)
    for _ in range(2):
        stub.GetInfo(pb.GetInfoRequest(), timeout=30)
    events = list(stub.Stylize(_requests(data, "great_wave"), timeout=120))
    assert events[-1].WhichOneof("event") == "result_chunk"
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.Stylize(_requests(data, "no_such_style"), timeout=120))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    after = scrape_metrics(daemon_process)

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("stylize_requests_total", method=GET_INFO, code="OK") == 2
    assert moved("stylize_requests_total", method=STYLIZE, code="OK") == 1
    assert moved("stylize_requests_total", method=STYLIZE, code="NOT_FOUND") == 1
    assert moved("stylize_request_duration_seconds_count", method=STYLIZE) == 2
    assert moved("stylize_request_duration_seconds_sum", method=STYLIZE) > 0
    infinite = moved("stylize_request_duration_seconds_bucket", method=STYLIZE, le="+Inf")
    assert infinite == 2
    assert _value(after, "stylize_requests_in_flight", method=STYLIZE) == 0
    assert _value(after, "stylize_jobs_running") == 0
    assert _value(after, "stylize_jobs_queued") == 0
    assert _value(after, "stylize_model_load_seconds") > 0
    assert _value(after, "process_resident_memory_bytes") > 100 << 20  # TensorFlow is in there


def test_running_job_and_cancellation_are_counted(
    stub: stylize_pb2_grpc.StyleTransferStub, daemon_process: DaemonProcess
) -> None:
    side = 1600  # long enough to be seen running, then cancelled
    data = encode(sample_photo(side, side))
    before = scrape_metrics(daemon_process)
    call = stub.Stylize(_requests(data, "great_wave"), timeout=120)
    for event in call:
        if event.progress.stage == pb.Progress.STAGE_STYLIZING:
            running = _value(scrape_metrics(daemon_process), "stylize_jobs_running")
            call.cancel()
            break
    assert running == 1
    key = ("stylize_cancellations_total", (("method", STYLIZE),))
    deadline = time.monotonic() + 60
    while (moved := scrape_metrics(daemon_process).get(key, 0.0) - before.get(key, 0.0)) < 1:
        assert time.monotonic() < deadline, "the cancellation was never counted"
        time.sleep(0.1)
    assert moved == 1


def test_request_id_in_trailers_and_log_lines(
    stub: stylize_pb2_grpc.StyleTransferStub, daemon_process: DaemonProcess
) -> None:
    _, call = stub.GetInfo.with_call(
        pb.GetInfoRequest(), timeout=30, metadata=(("x-request-id", "info-7f3a"),)
    )
    assert ("stylize-request-id", "info-7f3a") in call.trailing_metadata()
    data = encode(sample_photo(32, 32))
    with pytest.raises(grpc.RpcError) as caught:
        list(
            stub.Stylize(
                _requests(data, "missing_one"), timeout=60, metadata=(("x-request-id", "rq-42"),)
            )
        )
    assert ("stylize-request-id", "rq-42") in caught.value.trailing_metadata()
    log = _log_when(daemon_process, "request_id=rq-42", count=2)
    mine = [line for line in log.splitlines() if line.endswith("request_id=rq-42")]
    assert any("request failed code=NOT_FOUND" in line for line in mine)
    assert any(f"rpc method={STYLIZE} code=NOT_FOUND" in line for line in mine)


@pytest.mark.parametrize("offered", ["", "a;b", "x" * 65, "spaces are not ok", "-dash", "../x"])
def test_unusable_request_id_is_replaced(
    stub: stylize_pb2_grpc.StyleTransferStub, daemon_process: DaemonProcess, offered: str
) -> None:
    metadata = (("x-request-id", offered),) if offered else ()
    _, call = stub.GetInfo.with_call(pb.GetInfoRequest(), timeout=30, metadata=metadata)
    given = dict(call.trailing_metadata())["stylize-request-id"]
    assert given != offered and re.fullmatch(r"[0-9a-f]{16}", given)
    _log_when(daemon_process, f"rpc method={GET_INFO} code=OK seconds=")
    assert f"request_id={given}" in daemon_process.log()


def test_ids_differ_between_calls(stub: stylize_pb2_grpc.StyleTransferStub) -> None:
    ids = {
        dict(stub.GetInfo.with_call(pb.GetInfoRequest(), timeout=30)[1].trailing_metadata())[
            "stylize-request-id"
        ]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_job_threads_inherit_the_request_id() -> None:
    """Jobs run on the runner's threads; what they log must still name the request."""
    from stylize import request_id
    from stylize.server.job_runner import JobRunner

    runner = JobRunner(max_running=1, max_queued=1)
    try:
        future, _ = request_id.context_for("job-77").run(runner.submit, request_id.current)
        assert future.result(timeout=30) == "job-77"
        outside, _ = runner.submit(request_id.current)
        assert outside.result(timeout=30) is None
    finally:
        runner.shutdown()


def test_reflection_v1_lists_the_service(daemon_address: str) -> None:
    with grpc.insecure_channel(daemon_address) as channel:
        for version in ("v1", "v1alpha"):
            services = list_services(channel, version)
            assert {"stylize.v1.StyleTransfer", "grpc.health.v1.Health"} <= set(services)


def _log_when(daemon: DaemonProcess, text: str, count: int = 1) -> str:
    """The daemon's log once ``text`` appears ``count`` times (log lines are written async)."""
    deadline = time.monotonic() + 30
    while (log := daemon.log()).count(text) < count:
        assert time.monotonic() < deadline, f"{text!r} not logged {count} time(s):\n{log[-3000:]}"
        time.sleep(0.05)
    return log


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_both_log_formats_carry_the_request_id(fmt: str, capsys: pytest.CaptureFixture) -> None:
    import json
    import logging

    from stylize import logs, request_id

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("info", fmt)
    try:
        request_id.context_for("fmt-1").run(logging.getLogger("stylize.x").info, "done k=%d", 3)
        logging.getLogger("stylize.x").info("no request")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    inside, outside = capsys.readouterr().err.splitlines()
    if fmt == "json":
        assert json.loads(inside)["request_id"] == "fmt-1"
        assert "request_id" not in json.loads(outside)
    else:
        assert inside.endswith("stylize.x: done k=3 request_id=fmt-1")
        assert outside.endswith("stylize.x: no request")
