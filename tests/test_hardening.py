"""A daemon left running on a network: admission before upload, idle streams, structured
refusals, memory reservations, drain on SIGTERM, and the small defects of issue 8.

Each test here failed against the daemon before these changes (see the issue's list).
"""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from conftest import (
    DaemonProcess,
    decode_png,
    encode,
    sample_photo,
    start_daemon,
    stop_daemon,
)
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from PIL import Image
from stylize.client import library as client
from stylize.client.library import ClientError, RawImage, StylizeClient
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

RECEIVE_TIMEOUT = 3.0  # the tight daemon's --receive-timeout
STYLE = client.named_style("starry_night")


@pytest.fixture
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """One job slot, one queue place, a short receive timeout and a 48 MiB memory budget.

    A fresh daemon per test: a call a test cancels frees its job place a moment later, on
    the daemon's side, so a shared daemon could still be full when the next test starts."""
    daemon = start_daemon(
        tmp_path_factory.mktemp("tight") / "daemon.log",
        "--max-jobs",
        "1",
        "--max-queue",
        "1",
        "--receive-timeout",
        str(RECEIVE_TIMEOUT),
        "--memory-budget-mb",
        "48",
    )
    yield daemon
    stop_daemon(daemon)


def raw_setup(
    width: int, height: int, fmt: int = pb.PIXEL_FORMAT_GRAY8, **fields
) -> pb.StylizeSetup:
    channels = {pb.PIXEL_FORMAT_GRAY8: 1, pb.PIXEL_FORMAT_RGB8: 3, pb.PIXEL_FORMAT_RGBA8: 4}[fmt]
    raw = pb.RawImage(width=width, height=height, format=fmt)
    content = pb.ContentHeader(raw=raw, total_bytes=width * height * channels)
    return pb.StylizeSetup(content=content, styles=fields.pop("styles", [STYLE]), **fields)


class Stall:
    """A Stylize call that sends its setup and then nothing until released."""

    def __init__(self, address: str, setup: pb.StylizeSetup) -> None:
        self.release = threading.Event()
        self.channel = grpc.insecure_channel(address)
        stub = stylize_pb2_grpc.StyleTransferStub(self.channel)
        self.call = stub.Stylize(self._requests(setup), timeout=60)

    def _requests(self, setup: pb.StylizeSetup) -> Iterator[pb.StylizeRequest]:
        yield pb.StylizeRequest(setup=setup)
        self.release.wait(60)

    def first_event(self) -> pb.StylizeEvent:
        return next(self.call)

    def error(self) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as caught:
            for _ in self.call:
                pass
        return caught.value

    def close(self) -> None:
        self.call.cancel()  # before releasing the requests, so the call never half-closes
        self.release.set()
        self.channel.close()


def details(error: grpc.RpcError) -> dict[str, object]:
    """ErrorInfo reason, RetryInfo seconds and BadRequest fields of a failed call."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no google.rpc.Status details: {error}"
    found: dict[str, object] = {"fields": []}
    for detail in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.RetryInfo,
            error_details_pb2.BadRequest,
        ):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                if isinstance(message, error_details_pb2.ErrorInfo):
                    found["reason"], found["domain"] = message.reason, message.domain
                elif isinstance(message, error_details_pb2.RetryInfo):
                    found["retry"] = message.retry_delay.ToTimedelta().total_seconds()
                else:
                    found["fields"] = [v.field for v in message.field_violations]
    return found


def trailer(error: grpc.RpcError, key: str) -> str | None:
    return dict(error.trailing_metadata() or ()).get(key)


def raw_call(address: str, requests: list[pb.StylizeRequest]) -> grpc.RpcError:
    with grpc.insecure_channel(address) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.Stylize(iter(requests), timeout=30))
    return caught.value


# -- 1. untrusted bytes never reach external programs -----------------------------------

EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n"
    b"newpath 0 0 moveto 64 64 lineto stroke showpage\n%%EOF\n"
)


def test_eps_never_runs_ghostscript(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import EpsImagePlugin
    from stylize.engine import images
    from stylize.engine.errors import UnsupportedFormatError

    spawned: list[object] = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: spawned.append(a))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: spawned.append(a))
    with pytest.raises(UnsupportedFormatError, match="accepted format"):
        images.decode(EPS, images.ImageLimits(), "content image")
    assert spawned == []


def test_eps_upload_is_refused_with_a_reason(daemon_address: str) -> None:
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(encoded=pb.EncodedKind(), total_bytes=len(EPS)), styles=[STYLE]
    )
    error = raw_call(
        daemon_address, [pb.StylizeRequest(setup=setup), pb.StylizeRequest(content_chunk=EPS)]
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(error)["reason"] == "UNSUPPORTED_FORMAT"
    assert "PNG, JPEG, WEBP, TIFF" in error.details()


def test_get_info_lists_the_accepted_formats(daemon_address: str) -> None:
    from stylize.engine.images import ACCEPTED_FORMATS

    with StylizeClient(daemon_address) as c:
        assert tuple(c.info().accepted_formats) == ACCEPTED_FORMATS
    assert "EPS" not in ACCEPTED_FORMATS and "PNG" in ACCEPTED_FORMATS


# -- 2. idle streams cannot lock anyone out ---------------------------------------------


def test_idle_streams_leave_health_and_info_answering(tight: DaemonProcess) -> None:
    stalls = [Stall(tight.address, raw_setup(64, 64)) for _ in range(24)]
    try:
        with grpc.insecure_channel(tight.address) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            info = stylize_pb2_grpc.StyleTransferStub(channel).GetInfo(
                pb.GetInfoRequest(), timeout=5
            )
            assert info.limits.max_concurrent_jobs == 1
        errors = [stall.error() for stall in stalls]
    finally:
        for stall in stalls:
            stall.close()
    codes = {e.code() for e in errors}
    # Two were admitted and timed out waiting for their content; the rest were refused.
    assert codes <= {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
    reasons = [details(e)["reason"] for e in errors]
    assert reasons.count("UPLOAD_TIMEOUT") >= 2 and "BUSY" in reasons
    assert all(
        "grpc" not in e.details().lower() for e in errors
    )  # never grpcio's "Concurrent RPC limit exceeded!"


def test_a_stream_that_never_sends_its_setup_times_out(tight: DaemonProcess) -> None:
    release = threading.Event()

    def nothing() -> Iterator[pb.StylizeRequest]:
        release.wait(60)
        yield from ()

    with grpc.insecure_channel(tight.address) as channel:
        call = stylize_pb2_grpc.StyleTransferStub(channel).Stylize(nothing(), timeout=60)
        with pytest.raises(grpc.RpcError) as caught:
            list(call)
        release.set()
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert details(caught.value)["reason"] == "UPLOAD_TIMEOUT"
    assert "setup" in caught.value.details()


def test_server_sets_keepalive_and_connection_limits() -> None:
    from stylize.server.config import ServerConfig

    options = dict(ServerConfig(max_connection_idle=12.0).grpc_options())
    assert options["grpc.max_connection_idle_ms"] == 12_000
    assert options["grpc.http2.max_ping_strikes"] > 0
    assert options["grpc.keepalive_time_ms"] > 0 and "grpc.max_connection_age_ms" in options


# -- 3. admission at setup, before the bytes; memory reserved -----------------------------


def test_busy_is_said_at_setup_before_any_content(tight: DaemonProcess) -> None:
    holders = [Stall(tight.address, raw_setup(64, 64)) for _ in range(2)]
    stages = {holder.first_event().progress.stage for holder in holders}
    late = Stall(tight.address, raw_setup(64, 64))
    try:
        assert stages == {pb.Progress.STAGE_RECEIVING, pb.Progress.STAGE_QUEUED}
        error = late.error()  # the late call never sent a content byte
    finally:
        for stall in [*holders, late]:
            stall.close()
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    found = details(error)
    assert found["reason"] == "BUSY" and found["domain"] == "stylize.v1"
    assert found["retry"] == pytest.approx(1.0)
    assert trailer(error, "grpc-retry-pushback-ms") == "1000"


def test_unknown_style_is_said_at_setup(tight: DaemonProcess) -> None:
    styles = [STYLE, client.named_style("no_such_style")]
    stall = Stall(tight.address, raw_setup(64, 64, styles=styles))
    try:
        error = stall.error()
    finally:
        stall.close()
    assert error.code() == grpc.StatusCode.NOT_FOUND
    found = details(error)
    assert found["reason"] == "UNKNOWN_STYLE" and found["fields"] == ["styles[1]"]
    assert "retry" not in found and trailer(error, "grpc-retry-pushback-ms") == "-1"


def test_uploads_are_reserved_in_the_memory_budget(tight: DaemonProcess) -> None:
    too_big = Stall(tight.address, raw_setup(4096, 4096, pb.PIXEL_FORMAT_RGBA8))  # 64 MiB
    try:
        error = too_big.error()
    finally:
        too_big.close()
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details(error)["reason"] == "TOO_LARGE_FOR_MEMORY" and "retry" not in details(error)

    holder = Stall(tight.address, raw_setup(2048, 2048, pb.PIXEL_FORMAT_RGBA8))  # 16 MiB held
    assert holder.first_event().progress.stage == pb.Progress.STAGE_RECEIVING
    second = Stall(tight.address, raw_setup(3000, 3000, pb.PIXEL_FORMAT_RGBA8))  # 34 MiB more
    try:
        error = second.error()
    finally:
        holder.close()
        second.close()
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details(error)["reason"] == "MEMORY_BUSY" and details(error)["retry"] > 0


def test_cgroup_limit_caps_the_budget(tmp_path: Path) -> None:
    from stylize.engine import memory_budget

    (tmp_path / "app").mkdir()
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "memory.current").write_text("0\n")
    (tmp_path / "app" / "memory.max").write_text(f"{3 << 30}\n")
    (tmp_path / "app" / "memory.current").write_text(f"{1 << 30}\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/app\n")
    assert memory_budget.cgroup_headroom(tmp_path, proc) == 2 << 30
    proc.write_text("0::/\n")
    assert memory_budget.cgroup_headroom(tmp_path, proc) is None  # the root has no limit


def test_the_bundled_client_retries_busy_until_a_slot_frees(tight: DaemonProcess) -> None:
    holders = [Stall(tight.address, raw_setup(64, 64)) for _ in range(2)]
    for holder in holders:
        holder.first_event()
    timer = threading.Timer(1.5, lambda: [h.close() for h in holders])
    timer.start()
    try:
        with StylizeClient(tight.address, timeout=60) as c:
            result = c.stylize(encode(sample_photo(32, 32)), [STYLE])
        freed_before_the_result = timer.finished.is_set()
    finally:
        timer.join()
    assert freed_before_the_result  # it was BUSY while both slots were held, and retried
    assert decode_png(result.encoded).size == (32, 32)


# -- 4. structured refusals ------------------------------------------------------------


def test_a_bad_second_style_names_its_field(daemon_address: str) -> None:
    setup = raw_setup(32, 32, styles=[STYLE, client.vector_style([0.5] * 99)])
    error = raw_call(daemon_address, [pb.StylizeRequest(setup=setup)])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(error)["fields"] == ["styles[1]"]
    assert "style 2 has 99 values" in error.details()


def test_too_large_and_out_of_memory_are_told_apart(daemon_address: str) -> None:
    setup = raw_setup(20_000, 20_000)  # beyond --max-pixels: a limit, not memory
    error = raw_call(daemon_address, [pb.StylizeRequest(setup=setup)])
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details(error)["reason"] == "LIMIT_EXCEEDED" and "retry" not in details(error)


def test_client_error_carries_reason_field_and_retry(daemon_address: str) -> None:
    with StylizeClient(daemon_address) as c, pytest.raises(ClientError) as caught:
        c.stylize(encode(sample_photo(32, 32)), [STYLE, client.named_style("nope")])
    error = caught.value
    assert (error.code, error.reason, error.field) == ("NOT_FOUND", "UNKNOWN_STYLE", "styles[1]")
    assert error.retry_after is None and not error.started


def test_client_channel_has_a_retry_policy() -> None:
    (method,) = client.service_config()["methodConfig"]  # type: ignore[misc]
    policy = method["retryPolicy"]
    assert set(policy["retryableStatusCodes"]) == {"UNAVAILABLE", "RESOURCE_EXHAUSTED"}
    assert method["name"] == [{"service": "stylize.v1.StyleTransfer"}]


# -- 5. smaller defects ------------------------------------------------------------------


@pytest.mark.parametrize("max_side", [4, 15])
def test_max_side_below_the_minimum_is_invalid(daemon_address: str, max_side: int) -> None:
    setup = raw_setup(64, 64, options=pb.StylizeOptions(max_side=max_side))
    error = raw_call(daemon_address, [pb.StylizeRequest(setup=setup)])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(error)["fields"] == ["options.max_side"]


def test_max_side_that_squeezes_the_short_side_is_invalid(daemon_address: str) -> None:
    content = RawImage(1000, 100, "GRAY8", bytes(100_000))
    options = pb.StylizeOptions(max_side=40)  # 1000x100 -> 40x4
    with StylizeClient(daemon_address) as c, pytest.raises(ClientError) as caught:
        c.stylize(content, [STYLE], options=options)
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.field == "options.max_side"
    assert "40x4" in caught.value.message


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), 0.0, -1.0, 0.01, 16.5, 1e30])
def test_bad_stroke_scale_is_invalid(daemon_address: str, scale: float) -> None:
    setup = raw_setup(64, 64, options=pb.StylizeOptions(stroke_scale=scale))
    error = raw_call(daemon_address, [pb.StylizeRequest(setup=setup)])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(error)["fields"] == ["options.stroke_scale"]
    assert "between 0.015625 (1/64: full resolution) and 16" in (error.details() or "")


def test_cli_local_max_side_below_minimum_is_a_usage_error(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    sample_photo(64, 64).save(photo)
    done = run_cli(
        "apply",
        str(photo),
        "--style",
        "starry_night",
        "--max-side",
        "4",
        "--local",
        "-o",
        str(tmp_path / "out.png"),
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--max-side 4" in done.stderr


@pytest.mark.parametrize(("value", "words"), [("0", "between 0.015625"), ("big", "'full'")])
def test_cli_bad_stroke_scale_is_a_usage_error(tmp_path: Path, value: str, words: str) -> None:
    photo = tmp_path / "photo.png"
    sample_photo(64, 64).save(photo)
    done = run_cli(
        "apply", str(photo), "--style", "starry_night", "--stroke-scale", value, "--local",
        "-o", str(tmp_path / "out.png"),
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--stroke-scale" in done.stderr and words in done.stderr
    assert not (tmp_path / "out.png").exists()


def test_huge_style_name_gets_a_short_status(daemon_address: str) -> None:
    setup = raw_setup(32, 32, styles=[client.named_style("x" * 1_000_000)])
    error = raw_call(daemon_address, [pb.StylizeRequest(setup=setup)])
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert len(error.details()) <= 1000 and "chars" in error.details()


@pytest.mark.parametrize("name", ["starry_night\n", "a\nb", "bad name"])
def test_style_names_with_newlines_are_invalid(name: str) -> None:
    from stylize.engine.errors import InvalidInputError
    from stylize.jobs.style_library import check_name

    with pytest.raises(InvalidInputError):
        check_name(name)


def wait_for_log(daemon: DaemonProcess, *wanted: str, since: int = 0) -> str:
    deadline = time.monotonic() + 15
    while not all(w in daemon.log()[since:] for w in wanted) and time.monotonic() < deadline:
        time.sleep(0.1)
    log = daemon.log()[since:]
    assert all(w in log for w in wanted), log[-2000:]
    return log


def test_a_call_cancelled_mid_upload_is_logged(tight: DaemonProcess) -> None:
    since = len(tight.log())
    stall = Stall(tight.address, raw_setup(64, 64))
    stall.first_event()
    stall.call.cancel()  # the client cancels mid-upload; its request stream stays open
    try:
        log = wait_for_log(tight, "method=Stylize why='cancelled by the client'", since=since)
    finally:
        stall.close()
    assert "code=INTERNAL" not in log


def test_a_queued_predict_style_can_be_cancelled(daemon_process: DaemonProcess) -> None:
    since = len(daemon_process.log())
    content, styles = _slow_job_setup(1500)
    noise = np.random.default_rng(7).integers(0, 255, (256, 256, 3), np.uint8).tobytes()
    raw = pb.RawImage(width=256, height=256, format=pb.PIXEL_FORMAT_RGB8, data=noise)
    request = pb.PredictStyleRequest(style=pb.StyleSource(raw=raw))
    pending: list[grpc.Future] = []
    with (
        grpc.insecure_channel(daemon_process.address) as channel,
        StylizeClient(daemon_process.address) as c,
    ):
        stub = stylize_pb2_grpc.StyleTransferStub(channel)

        def predict_while_busy(progress: pb.Progress) -> None:
            if progress.stage == pb.Progress.STAGE_STYLIZING and not pending:
                pending.append(stub.PredictStyle.future(request))
                time.sleep(0.3)  # queued behind the running job
                pending[0].cancel()

        c.stylize(content, styles, on_progress=predict_while_busy)
    assert pending and pending[0].cancelled()
    wait_for_log(daemon_process, "method=PredictStyle why='cancelled by the client'", since=since)


def test_a_queued_job_that_is_cancelled_never_runs(engine) -> None:
    from stylize.engine.errors import CancelledError
    from stylize.jobs.job import EncodedSource, NamedSource, StylizeJob
    from stylize.jobs.job import WeightedStyle as Weighted
    from stylize.jobs.method import Controls
    from stylize.jobs.methods import registered_methods
    from stylize.jobs.resources import Engines
    from stylize.jobs.run import run_job

    decoded: list[object] = []

    class CountingLimits:
        def check(self, *args: object) -> None:
            decoded.append(args)

    resolver = Engines(engine, None, None, CountingLimits(), registered_methods())  # type: ignore[arg-type]
    job = StylizeJob(EncodedSource(encode(sample_photo(32, 32))), (Weighted(NamedSource("a"), 1),))
    with pytest.raises(CancelledError):
        run_job(resolver, job, lambda p: None, Controls(cancelled=lambda: True))
    assert decoded == []


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "stylize", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_cli_honours_stylize_port(daemon_address: str) -> None:
    port = daemon_address.rpartition(":")[2]
    done = run_cli("info", env={"STYLIZE_PORT": port, "STYLIZE_ADDRESS": ""})
    assert done.returncode == 0, done.stderr
    assert '"style_vector_size": 100' in done.stdout


@pytest.mark.slow
def test_cli_runtime_errors_exit_1_and_name_the_port(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    sample_photo(32, 32).save(photo)
    done = run_cli(
        "apply",
        str(photo),
        "--style",
        "starry_night",
        "--address",
        "127.0.0.1:9",
        "-o",
        str(tmp_path / "out.png"),
    )
    assert done.returncode == 1
    assert "stylize serve --port 9" in done.stderr and "Traceback" not in done.stderr


def test_serve_on_a_busy_port_says_so(daemon_address: str) -> None:
    port = daemon_address.rpartition(":")[2]
    done = run_cli("serve", "--port", port)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


# -- 3 (faults). SIGTERM drains; kill -9 mid-job is told as such --------------------------


def _slow_job_setup(side: int) -> tuple[RawImage, list[pb.StyleSource]]:
    pixels = np.asarray(sample_photo(side, side).convert("L")).tobytes()
    return RawImage(side, side, "GRAY8", pixels), [STYLE]


def test_sigterm_drains_the_running_job(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "daemon.log", "--shutdown-grace", "60")
    content, styles = _slow_job_setup(1200)
    outcome: dict[str, object] = {}
    started = threading.Event()

    def job() -> None:
        try:
            with StylizeClient(daemon.address, timeout=120) as c:
                outcome["result"] = c.stylize(content, styles, on_progress=lambda p: started.set())
        except ClientError as error:
            outcome["error"] = error

    thread = threading.Thread(target=job)
    thread.start()
    assert started.wait(60)
    daemon.process.send_signal(signal.SIGTERM)
    thread.join(120)
    assert daemon.process.wait(60) == 0
    assert "result" in outcome, outcome
    assert "drained=True" in daemon.log()


def test_kill_9_mid_job_says_the_daemon_stopped(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "daemon.log")
    content, styles = _slow_job_setup(2000)

    def kill_on_progress(progress: pb.Progress) -> None:
        if progress.stage == pb.Progress.STAGE_STYLIZING and daemon.process.poll() is None:
            daemon.process.kill()

    try:
        with StylizeClient(daemon.address, timeout=60) as c, pytest.raises(ClientError) as caught:
            c.stylize(content, styles, on_progress=kill_on_progress)
    finally:
        daemon.process.kill()
        daemon.process.wait()
    error = caught.value
    assert error.code == "UNAVAILABLE" and error.started
    from stylize.client.user_messages import explain

    words = explain(error, daemon.address, 60, "flags")
    port = daemon.address.rpartition(":")[2]
    assert "stopped during the job" in words and f"--port {port}" in words
    assert "Cannot reach" not in words


def test_pil_is_not_asked_for_other_formats() -> None:
    """Guards the allowlist itself: a GIF-looking file still decodes, an ICO does not."""
    from stylize.engine import images
    from stylize.engine.errors import UnsupportedFormatError

    stream = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(stream, format="ICO")
    with pytest.raises(UnsupportedFormatError):
        images.decode(stream.getvalue(), images.ImageLimits(), "style")
    gif = encode(Image.new("RGB", (32, 32), (10, 20, 30)), "GIF")
    assert images.decode(gif, images.ImageLimits(), "style").width == 32


# -- the one retry loop ------------------------------------------------------------------


def test_no_extra_probe_before_each_call(daemon_address: str) -> None:
    with StylizeClient(daemon_address) as c:
        probes: list[object] = []
        real = c._stub.GetInfo
        c._stub.GetInfo = lambda *a, **k: probes.append(a) or real(*a, **k)  # type: ignore[method-assign]
        for _ in range(2):
            c.stylize(encode(sample_photo(32, 32)), [STYLE])
        c.predict_style(STYLE)
    assert probes == []


def test_a_daemon_that_starts_late_is_waited_for(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started: list[DaemonProcess] = []
    thread = threading.Thread(
        target=lambda: started.append(start_daemon(tmp_path / "late.log", "--port", str(port)))
    )
    thread.start()  # the client below calls before the daemon listens
    try:
        with StylizeClient(f"127.0.0.1:{port}", connect_timeout=120) as c:
            assert c.predict_style(STYLE)
    finally:
        thread.join(150)
        for daemon in started:
            stop_daemon(daemon)


def test_retry_loop_gives_up_on_errors_that_retrying_cannot_fix() -> None:
    attempts: list[int] = []

    def refuse(reason: str, retry_after: float | None) -> object:
        attempts.append(1)
        raise ClientError("RESOURCE_EXHAUSTED", "no", reason=reason, retry_after=retry_after)

    with StylizeClient("127.0.0.1:9", timeout=0.5) as c:
        with pytest.raises(ClientError):
            c._retrying(lambda: refuse("LIMIT_EXCEEDED", None))
        assert len(attempts) == 1
        attempts.clear()
        with pytest.raises(ClientError):
            c._retrying(lambda: refuse("BUSY", 0.1))  # retried until the timeout
        assert 2 <= len(attempts) <= 6


def test_content_that_ends_before_its_declared_size_is_invalid(daemon_address: str) -> None:
    """A client that closes its side early (not a cancel) gets INVALID_ARGUMENT."""
    setup = raw_setup(32, 32)  # GRAY8: 1,024 bytes declared
    requests = [pb.StylizeRequest(setup=setup), pb.StylizeRequest(content_chunk=b"\x80" * 100)]
    error = raw_call(daemon_address, requests)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "content ended after 100 of the declared 1,024 bytes" in error.details()
    assert details(error)["fields"] == ["content.total_bytes"]
