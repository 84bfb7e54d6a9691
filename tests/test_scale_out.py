"""N daemons, one pool: gRPC's round_robin with client-side health checking, over loopback.

Three real daemons listen on 127.0.0.1, 127.0.0.2 and 127.0.0.3; one client gets the
target ``ipv4:A,B,C``. Which daemon served a call is read from the daemons' own logs.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from conftest import DaemonProcess, sample_photo, start_daemon, stop_daemon
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from stylize.client import library as client
from stylize.client import user_messages
from stylize.client.library import ClientError, RawImage, StylizeClient
from stylize.v1 import stylize_pb2_grpc

HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
CONTENT = RawImage(48, 48, "RGB8", np.asarray(sample_photo(48, 48)).tobytes())
STYLE = client.named_style("great_wave")


def served(daemon: DaemonProcess) -> int:
    """Stylize calls this daemon completed, from its log."""
    return daemon.log().count("stylize done")


def pool_target(daemons: list[DaemonProcess]) -> str:
    return "ipv4:" + ",".join(d.address for d in daemons)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[DaemonProcess]]:
    logs = tmp_path_factory.mktemp("pool")
    with futures.ThreadPoolExecutor(len(HOSTS)) as starter:
        starts = [starter.submit(start_daemon, logs / f"{h}.log", "--host", h) for h in HOSTS]
        futures.wait(starts)
    daemons = [s.result() for s in starts if s.exception() is None]
    try:
        assert len(daemons) == len(HOSTS), [str(s.exception()) for s in starts]
        yield daemons
    finally:
        for daemon in daemons:
            stop_daemon(daemon)


def test_calls_spread_over_every_daemon_of_the_pool(pool: list[DaemonProcess]) -> None:
    before = [served(d) for d in pool]
    with StylizeClient(pool_target(pool)) as daemons:
        for _ in range(12):
            assert daemons.stylize(CONTENT, [STYLE]).image is not None
    gained = [served(d) - b for d, b in zip(pool, before, strict=True)]
    assert sum(gained) == 12
    assert all(count >= 2 for count in gained), gained  # round_robin: 4 each once connected


@dataclass
class Outcome:
    began: float
    code: str  # "OK" or the status name
    committed: bool  # the daemon had answered (progress) before the call ended
    message: str = ""


def _one_call(target: StylizeClient) -> Outcome:
    began = time.monotonic()
    committed = threading.Event()
    try:
        target.stylize(CONTENT, [STYLE], on_progress=lambda _: committed.set())
        return Outcome(began, "OK", committed.is_set())
    except ClientError as error:
        return Outcome(began, error.code, committed.is_set(), error.message)


def _worker(target: StylizeClient, outcomes: list[Outcome], stop: threading.Event) -> None:
    while not stop.is_set():
        outcomes.append(_one_call(target))


def test_killing_one_daemon_mid_run_loses_only_calls_it_had_committed(
    pool: list[DaemonProcess],
) -> None:
    """SIGKILL one daemon under load: calls it had started fail UNAVAILABLE (gRPC does
    not retry a committed call); every call begun after the kill succeeds elsewhere."""
    victim, survivors = pool[-1], pool[:-1]
    outcomes: list[Outcome] = []
    stop = threading.Event()
    with StylizeClient(pool_target(pool)) as daemons:
        threads = [
            threading.Thread(target=_worker, args=(daemons, outcomes, stop)) for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        try:
            _wait_for(lambda: served(victim) >= 2 and len(outcomes) >= 6)
            before = [served(d) for d in survivors]
            victim.process.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            victim.process.wait(timeout=30)
            _wait_for(
                lambda: (
                    sum(o.began > killed_at for o in outcomes) >= 12
                    and all(served(d) > b for d, b in zip(survivors, before, strict=True))
                )
            )  # both survivors take over
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
    failures = [o for o in outcomes if o.code != "OK"]
    assert all(o.code == "UNAVAILABLE" and o.committed for o in failures), failures
    assert len(failures) <= len(threads)  # at most the calls in flight on the victim
    after = [o for o in outcomes if o.began > killed_at]
    assert all(o.code == "OK" for o in after), after


def _wait_for(condition, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the pool stopped making progress"
        time.sleep(0.05)


# -- health checking ------------------------------------------------------------------


class _CountingService(stylize_pb2_grpc.StyleTransferServicer):
    """A pool member that is not ready: every call reaching it is counted (and fails)."""

    def __init__(self) -> None:
        self.calls = 0

    def GetInfo(self, request, context):  # type: ignore[no-untyped-def]
        self.calls += 1
        context.abort(grpc.StatusCode.UNAVAILABLE, "not ready")

    def Stylize(self, request_iterator, context):  # type: ignore[no-untyped-def]
        self.calls += 1
        context.abort(grpc.StatusCode.UNAVAILABLE, "not ready")


def test_a_member_reporting_not_serving_gets_no_calls(daemon_process: DaemonProcess) -> None:
    """Client-side health checking: a daemon whose health says NOT_SERVING for
    stylize.v1.StyleTransfer (loading its models, draining) is left out of the pool."""
    member = _CountingService()
    status = health.HealthServicer()
    status.set(client.SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    stylize_pb2_grpc.add_StyleTransferServicer_to_server(member, server)
    health_pb2_grpc.add_HealthServicer_to_server(status, server)
    port = server.add_insecure_port("127.0.0.2:0")
    server.start()
    try:
        target = f"ipv4:{daemon_process.address},127.0.0.2:{port}"
        with StylizeClient(target) as daemons:
            for _ in range(6):
                assert daemons.stylize(CONTENT, [STYLE]).image is not None
                daemons.info()
        assert member.calls == 0
    finally:
        server.stop(None)


@pytest.mark.slow
def test_a_pool_with_no_serving_member_says_not_ready() -> None:
    """Health says NOT_SERVING (a daemon loading its models): "not ready", not "start one"."""
    status = health.HealthServicer()
    status.set(client.SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health_pb2_grpc.add_HealthServicer_to_server(status, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with (
            StylizeClient(f"127.0.0.1:{port}", connect_timeout=0.5) as loading,
            pytest.raises(ClientError) as caught,
        ):
            loading.info()
        assert caught.value.code == "UNAVAILABLE"
        words = user_messages.explain(caught.value, f"127.0.0.1:{port}", 1.0, "settings")
        assert "not ready" in words and "Start it" not in words
    finally:
        server.stop(None)


def test_the_daemon_reports_health_under_the_name_clients_check(
    daemon_process: DaemonProcess,
) -> None:
    with grpc.insecure_channel(daemon_process.address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=client.SERVICE_NAME), timeout=5
        )
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_cli_takes_a_multi_address_target(pool: list[DaemonProcess], tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "out.png"
    photo = tmp_path / "photo.png"
    sample_photo(32, 32).save(photo)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stylize",
            "apply",
            str(photo),
            "--style",
            "shipwreck",
            "-o",
            str(out),
            "-q",
            "--address",
            pool_target(pool),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0


def test_the_gimp_bridge_takes_a_multi_address_target(pool: list[DaemonProcess]) -> None:
    from test_bridge import STYLE as STYLE_FILE
    from test_bridge import events_of, request_bytes, run_bridge

    done = run_bridge(
        request_bytes(32, 24, "RGB8", styles=(STYLE_FILE,), address=pool_target(pool))
    )
    assert done.returncode == 0, done.stderr.decode()
    result = events_of(done.stdout)[-1]
    assert result["event"] == "result" and (result["width"], result["height"]) == (32, 24)
