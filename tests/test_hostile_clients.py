"""Issue 18's remaining hostile-input defects: each test here failed before its fix.

Real gRPC over loopback against real daemon subprocesses (``tests/conftest.py``).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from conftest import DaemonProcess, scrape_metrics, start_daemon, stop_daemon
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from stylize.client import library as client
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

# -- a refused setup whose content was already on its way never wedges the connection --


def _refused_with_content() -> Iterator[pb.StylizeRequest]:
    """A setup naming an unknown style, and the content right behind it (no wait for the ack)."""
    raw = pb.RawImage(width=64, height=64, format=pb.PIXEL_FORMAT_GRAY8)
    content = pb.ContentHeader(raw=raw, total_bytes=64 * 64)
    setup = pb.StylizeSetup(content=content, styles=[client.named_style("no_such_style")])
    yield pb.StylizeRequest(setup=setup)
    yield pb.StylizeRequest(content_chunk=bytes(64 * 64))


def _drive_refused_setups(address: str, calls: int) -> None:
    codes: dict[str, int] = {}
    first_other: tuple[int, str] | None = None
    with grpc.insecure_channel(address) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        for i in range(calls):
            with pytest.raises(grpc.RpcError) as caught:
                list(stub.Stylize(_refused_with_content(), timeout=10))
            code = caught.value.code().name
            codes[code] = codes.get(code, 0) + 1
            if code != "NOT_FOUND" and first_other is None:
                first_other = (i, caught.value.details())
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert codes == {"NOT_FOUND": calls}, (codes, first_other)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.slow
def test_refused_setups_with_content_leave_the_connection_usable(daemon_address: str) -> None:
    _drive_refused_setups(daemon_address, 2_000)


@pytest.mark.slow
def test_twenty_thousand_refused_setups_on_one_channel(daemon_address: str) -> None:
    _drive_refused_setups(daemon_address, 20_000)


# -- metrics labels come from a closed set, whatever method names callers invent ----------

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """A daemon with a token and metrics."""
    daemon = start_daemon(
        tmp_path_factory.mktemp("guarded") / "daemon.log",
        "--metrics-port",
        "0",
        env={"STYLIZE_TOKEN": TOKEN},
    )
    yield daemon
    stop_daemon(daemon)


def test_unknown_methods_share_one_metrics_label(guarded: DaemonProcess) -> None:
    from stylize.server.server import served_methods

    with grpc.insecure_channel(guarded.address) as channel:
        for _ in range(200):
            name = f"/evil.{secrets.token_hex(4)}/{secrets.token_hex(6)}"
            call = channel.unary_unary(name)  # bytes in, bytes out
            with pytest.raises(grpc.RpcError) as caught:
                call(b"", timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        authorized = (("authorization", f"Bearer {TOKEN}"),)
        with pytest.raises(grpc.RpcError) as caught:
            channel.unary_unary("/evil.Service/Method")(b"", timeout=5, metadata=authorized)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    samples = scrape_metrics(guarded)
    labels = {dict(labels)["method"] for _, labels in samples if "method" in dict(labels)}
    assert "unknown" in labels
    assert labels <= {*served_methods(), "unknown"}, labels
    refused = (("code", "UNAUTHENTICATED"), ("method", "unknown"))
    assert samples[("stylize_requests_total", refused)] >= 200


# -- long non-ASCII text still gets a deliverable status ---------------------------------


def _refusal(call: grpc.UnaryUnaryMultiCallable, request: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)
    return caught.value


def _check_deliverable(error: grpc.RpcError, field: str) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert len(error.details().encode()) <= 1000
    status = rpc_status.from_call(error)
    assert status is not None and len(status.message.encode()) <= 1000
    for detail in status.details:
        request = error_details_pb2.BadRequest()
        if detail.Unpack(request):
            (violation,) = request.field_violations
            assert violation.field == field and len(violation.description.encode()) <= 1000


@pytest.mark.parametrize("char", ["\U0001f600", "\u5b57", "e\u0301"])
def test_a_long_non_ascii_style_name_gets_its_refusal(daemon_address: str, char: str) -> None:
    with grpc.insecure_channel(daemon_address) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        request = pb.AddStyleRequest(name=char * 3000, image=b"not an image")
        _check_deliverable(_refusal(stub.AddStyle, request), "name")


def test_a_long_non_ascii_page_token_gets_its_refusal(daemon_address: str) -> None:
    with grpc.insecure_channel(daemon_address) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        request = pb.ListStylesRequest(page_token="\u5b57" * 300_000)
        _check_deliverable(_refusal(stub.ListStyles, request), "page_token")


def test_messages_are_cut_by_utf8_bytes_on_a_character_boundary() -> None:
    from stylize.server.status import shorten

    for text in ("\U0001f600" * 3000, "\u5b57" * 300_000, "a" * 5000, "e\u0301" * 2000):
        cut = shorten(text, 1000)
        assert len(cut.encode()) <= 1000 and cut.endswith("chars)")
        assert text.startswith(cut.split("\u2026 (")[0])
    assert shorten("\u5b57" * 10, 1000) == "\u5b57" * 10


# -- a blank token is no token -----------------------------------------------------------


def serve_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``stylize serve ARGS`` expected to stop at its settings (it never listens)."""
    return subprocess.run(
        [sys.executable, "-m", "stylize", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("token", ["   ", "\t\n", " \u3000 "])
def test_a_blank_token_is_refused_by_the_daemon_settings(token: str) -> None:
    from stylize.server.auth import TokenAuthInterceptor
    from stylize.server.config import ServerConfig

    with pytest.raises(ValueError, match="blank"):
        ServerConfig(host="0.0.0.0", token=token, insecure=True)
    with pytest.raises(ValueError, match="blank"):
        ServerConfig(token=token)
    with pytest.raises(ValueError):
        TokenAuthInterceptor(token)
    assert ServerConfig(token=f"{token}abc{token}").token == "abc"


def test_a_blank_stylize_token_stops_serve_with_a_usage_error(tmp_path: Path) -> None:
    done = serve_cli("--host", "0.0.0.0", "--insecure", env={"STYLIZE_TOKEN": "   "})
    assert done.returncode == 2, done.stderr
    assert "STYLIZE_TOKEN is blank" in done.stderr
    blank = tmp_path / "token"
    blank.write_text(" \n")
    done = serve_cli("--token-file", str(blank))
    assert done.returncode == 2 and "is blank" in done.stderr, done.stderr


def test_the_client_sends_no_blank_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLIZE_TOKEN", "   ")
    with client.StylizeClient("127.0.0.1:1") as blank:
        assert blank._metadata == ()
    with client.StylizeClient("127.0.0.1:1", token=" abc\n") as padded:
        assert padded._metadata == (("authorization", "Bearer abc"),)


# -- `stylize serve` refuses settings it cannot honour, naming them ---------------------


def _not_pem(folder: Path) -> Path:
    path = folder / "not-a-cert.pem"
    path.write_text("this is not a certificate\n")
    return path


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"rate_limit": float("nan")}, "--rate-limit must be a number >= 0, not nan"),
        ({"rate_limit": float("inf")}, "--rate-limit"),
        ({"rate_limit": -1.0}, "--rate-limit"),
        ({"memory_budget_bytes": -5 << 20}, "--memory-budget-mb must be > 0"),
        ({"memory_budget_bytes": 0}, "--memory-budget-mb must be > 0"),
        ({"max_message_bytes": 0}, "--max-message-mb must be >= 1"),
        ({"receive_timeout": float("inf")}, "finite"),
    ],
)
def test_server_config_refuses_values_it_cannot_honour(
    settings: dict[str, object], words: str
) -> None:
    from stylize.server.config import ServerConfig

    with pytest.raises(ValueError) as caught:
        ServerConfig(**settings).check()  # type: ignore[arg-type]
    assert words in str(caught.value)


def test_server_config_names_tls_files_that_are_not_pem(tmp_path: Path) -> None:
    from certificates import CertificateAuthority
    from stylize.server.config import ServerConfig

    ca = CertificateAuthority(tmp_path)
    good = ca.issue("127.0.0.1", server=True)
    junk = _not_pem(tmp_path)
    ServerConfig(
        tls_cert=good.cert_path, tls_key=good.key_path, tls_client_ca=ca.pem.cert_path
    ).check()
    cases = [
        ({"tls_cert": junk, "tls_key": good.key_path}, str(junk)),
        ({"tls_cert": good.cert_path, "tls_key": junk}, str(junk)),
        ({"tls_cert": good.cert_path, "tls_key": ca.pem.key_path}, "its private key"),
        ({"tls_cert": tmp_path / "missing.crt", "tls_key": good.key_path}, "missing.crt"),
        (
            {"tls_cert": good.cert_path, "tls_key": good.key_path, "tls_client_ca": junk},
            f"--tls-client-ca {junk}",
        ),
    ]
    for settings, words in cases:
        with pytest.raises(ValueError) as caught:
            ServerConfig(**settings).check()  # type: ignore[arg-type]
        assert words in str(caught.value) and "address" not in str(caught.value)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--rate-limit", "nan"], "--rate-limit must be a number >= 0, not nan"),
        (["--memory-budget-mb", "-5"], "--memory-budget-mb must be > 0"),
        (["--max-message-mb", "0"], "--max-message-mb must be >= 1"),
        (["--tls-cert", "NOT_PEM", "--tls-key", "NOT_PEM"], "are not a PEM certificate"),
    ],
)
def test_serve_says_which_setting_is_wrong(tmp_path: Path, args: list[str], words: str) -> None:
    junk = str(_not_pem(tmp_path))
    done = serve_cli(*[junk if a == "NOT_PEM" else a for a in args])
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and "address in use" not in done.stderr


# -- `finish`: once per optimisation, and per call on the client -------------------------

_OPTIMIZE = pb.OptimizeOptions(optimizer=pb.OptimizeOptions.OPTIMIZER_ADAM)


def _small_content() -> bytes:
    from conftest import encode, sample_photo

    return encode(sample_photo(64, 48))


def test_a_second_finish_is_invalid(daemon_address: str) -> None:
    optimize = pb.OptimizeOptions()
    optimize.CopyFrom(_OPTIMIZE)
    optimize.iterations = 5000
    setup, data = client.stylize_setup(
        _small_content(), [client.named_style("starry_night")], optimize=optimize
    )
    finish = pb.StylizeRequest(finish=pb.Finish())
    requests = [pb.StylizeRequest(setup=setup), pb.StylizeRequest(content_chunk=data)]
    with grpc.insecure_channel(daemon_address) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.Stylize(iter([*requests, finish, finish]), timeout=120))
        # one finish alone is still fine
        events = list(stub.Stylize(iter([*requests, finish]), timeout=120))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert "only one `finish`" in caught.value.details()
    assert any(e.HasField("result") and e.result.finished_early for e in events)


def test_finish_ends_only_the_optimisation_in_flight(daemon_address: str) -> None:
    style = [client.named_style("starry_night")]
    long, short = pb.OptimizeOptions(), pb.OptimizeOptions()
    long.CopyFrom(_OPTIMIZE)
    short.CopyFrom(_OPTIMIZE)
    long.iterations, short.iterations = 5000, 4
    with client.StylizeClient(daemon_address) as daemon:

        def on_progress(progress: pb.Progress) -> None:
            if progress.iteration >= 2:
                daemon.finish()

        first = daemon.stylize(_small_content(), style, optimize=long, on_progress=on_progress)
        second = daemon.stylize(_small_content(), style, optimize=short)
    assert first.finished_early and first.iterations < 5000
    assert not second.finished_early and second.iterations == 4


# -- SIGTERM with a job in flight: drained, delivered, exit 0 every time -----------------


def _sigterm_mid_job(log: Path) -> tuple[int, str, object]:
    import numpy as np
    from conftest import sample_photo

    daemon = start_daemon(log, "--shutdown-grace", "60")
    side = 1000
    pixels = np.asarray(sample_photo(side, side).convert("L")).tobytes()
    content = client.RawImage(side, side, "GRAY8", pixels)
    outcome: dict[str, object] = {}
    started = threading.Event()

    def job() -> None:
        try:
            with client.StylizeClient(daemon.address, timeout=120) as c:
                styles = [client.named_style("starry_night")]
                outcome["result"] = c.stylize(content, styles, on_progress=lambda p: started.set())
        except client.ClientError as error:
            outcome["error"] = error

    thread = threading.Thread(target=job)
    thread.start()
    try:
        assert started.wait(60)
        daemon.process.send_signal(signal.SIGTERM)
        thread.join(120)
        try:
            code = daemon.process.wait(120)  # generous: CI machines are shared and loaded
        except subprocess.TimeoutExpired:
            pytest.fail(f"the daemon did not exit after SIGTERM:\n{daemon.log()[-3000:]}")
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
    return code, daemon.log(), outcome.get("result", outcome.get("error"))


def _check_sigterm_exits_cleanly(folder: Path, tries: int) -> None:
    for attempt in range(tries):
        code, log, result = _sigterm_mid_job(folder / f"daemon-{attempt}.log")
        assert isinstance(result, client.StylizeResult), result
        assert "stopped drained=True" in log
        assert code == 0, f"try {attempt}: exit {code}\n{log[-2000:]}"
        assert "terminate called" not in log


def test_sigterm_with_a_job_in_flight_exits_0(tmp_path: Path) -> None:
    _check_sigterm_exits_cleanly(tmp_path, 2)


@pytest.mark.slow
def test_sigterm_with_a_job_in_flight_exits_0_every_time(tmp_path: Path) -> None:
    _check_sigterm_exits_cleanly(tmp_path, 12)


# -- MEMORY_BUSY says what holds the memory ----------------------------------------------

GIB = 1 << 30


def test_memory_busy_says_jobs_hold_the_rest_of_the_budget() -> None:
    from stylize.engine.errors import InsufficientMemoryError
    from stylize.engine.memory_budget import MemoryBudget

    budget = MemoryBudget(int(3.5 * GIB))
    held = budget.reserve(int(2.25 * GIB), "a job")
    with pytest.raises(InsufficientMemoryError) as caught:
        budget.reserve(int(1.5 * GIB), "the 4000x3000 content and result")
    held.release()
    assert str(caught.value) == (
        "the 4000x3000 content and result needs 1.50 GiB of memory; 2.25 GiB of this "
        "daemon's 3.50 GiB budget is held by jobs in flight and 1.25 GiB is free; "
        "try again when they end"
    )


def test_memory_busy_says_when_the_machine_is_short_not_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stylize.engine import memory_budget
    from stylize.engine.errors import InsufficientMemoryError

    at_start = memory_budget.Limit(4 * GIB, "host MemAvailable")
    monkeypatch.setattr(memory_budget, "tightest_limit", lambda: at_start)
    budget = memory_budget.MemoryBudget()  # measured: 0.9 x 4 GiB = 3.60 GiB
    monkeypatch.setattr(memory_budget, "available_bytes", lambda: 1 * GIB)  # others took it
    with pytest.raises(InsufficientMemoryError) as caught:
        budget.reserve(int(1.25 * GIB), "the upload")
    message = str(caught.value)
    assert message.startswith("the upload needs 1.25 GiB of memory; 3.60 GiB of this daemon's")
    assert "the machine has only 0.90 GiB available now" in message


# -- reflection lists every service the daemon serves, and describes each ----------------


@pytest.mark.parametrize("version", ["v1alpha", "v1"])
def test_reflection_lists_and_describes_every_served_service(
    daemon_address: str, version: str
) -> None:
    from conftest import list_services
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )
    from stylize.server.server import served_methods

    served = {method.split("/")[0] for method in served_methods()}
    assert "stylize.v1.StyleTransfer" in served and "grpc.reflection.v1.ServerReflection" in served
    with grpc.insecure_channel(daemon_address) as channel:
        listed = list_services(channel, version)
        database = ProtoReflectionDescriptorDatabase(channel)
        for name in listed:
            database.FindFileContainingSymbol(name)  # raises KeyError if it cannot describe it
    assert sorted(listed) == sorted(served)


# -- a refused TLS handshake is not "start the daemon" ----------------------------------


@pytest.mark.slow
def test_a_refused_mtls_handshake_is_not_reported_as_an_absent_daemon(tmp_path: Path) -> None:
    _check_tls_refusals_are_worded(tmp_path, ["no client certificate"])


@pytest.mark.slow
def test_every_refused_tls_handshake_is_worded(tmp_path: Path) -> None:
    _check_tls_refusals_are_worded(
        tmp_path, ["no client certificate", "a stranger's certificate", "the daemon's CA unknown"]
    )


def _check_tls_refusals_are_worded(tmp_path: Path, which: list[str]) -> None:
    """`stylize info` against an mTLS daemon: each case in ``which`` (the CLI waits for
    the daemon up to its connect timeout, 5 s, each)."""
    from certificates import CertificateAuthority

    ca = CertificateAuthority(tmp_path)
    server, alice = ca.issue("127.0.0.1", server=True), ca.issue("alice", server=False)
    stranger = CertificateAuthority(tmp_path, "Other CA")
    mallory = stranger.issue("mallory", server=False)
    daemon = start_daemon(
        tmp_path / "daemon.log",
        *("--tls-cert", str(server.cert_path), "--tls-key", str(server.key_path)),
        *("--tls-client-ca", str(ca.pem.cert_path)),
        credentials=grpc.ssl_channel_credentials(ca.pem.cert, alice.key, alice.cert),
    )
    try:
        cases = {
            "no client certificate": ["--tls-ca", str(ca.pem.cert_path)],
            "a stranger's certificate": [
                *("--tls-ca", str(ca.pem.cert_path), "--tls-cert", str(mallory.cert_path)),
                *("--tls-key", str(mallory.key_path)),
            ],
            "the daemon's CA unknown": [
                *("--tls-ca", str(stranger.pem.cert_path), "--tls-cert", str(alice.cert_path)),
                *("--tls-key", str(alice.key_path)),
            ],
        }
        for case in which:
            tls = cases[case]
            done = subprocess.run(
                [sys.executable, "-m", "stylize", "info", "--address", daemon.address, *tls],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "STYLIZE_TOKEN": ""},
            )
            words = done.stderr
            assert done.returncode == 1, (case, words)
            assert "is running but refused the connection" in words, (case, words)
            assert "Cannot reach" not in words and "stylize serve" not in words, (case, words)
            assert "client certificate" in words, (case, words)
    finally:
        stop_daemon(daemon)


def test_connection_words_follow_what_grpc_said() -> None:
    from stylize.client.user_messages import explain

    def words(message: str) -> str:
        return explain(client.ClientError("UNAVAILABLE", message), "127.0.0.1:6000", 5, "--x")

    handshake = (
        "connections to all backends failing; last error: UNKNOWN: ipv4:127.0.0.1:6000: "
        "Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: CERTIFICATE_VERIFY_FAILED"
    )
    assert "the TLS handshake failed" in words(handshake)
    closed = "last error: UNAVAILABLE: ipv4:127.0.0.1:6000: Socket closed"
    assert "closed the connection before answering" in words(closed)
    refused = "last error: UNAVAILABLE: ipv4:127.0.0.1:6000: Failed to connect to remote host"
    assert words(refused).startswith("Cannot reach the Stylize daemon at 127.0.0.1:6000")


def test_jobs_admitted_together_are_not_both_offered_the_same_free_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 18 (found by the memory-safety run in a 3 GiB cgroup): each reservation was
    checked against the machine's free memory alone, so jobs admitted together, none of
    which had allocated yet, were each offered the same free bytes and the cgroup killed
    the daemon. What is reserved but not yet allocated now counts as taken."""
    from stylize.engine import memory_budget
    from stylize.engine.errors import InsufficientMemoryError

    at_start = memory_budget.Limit(4 * GIB, "cgroup v1 memory.limit_in_bytes")
    monkeypatch.setattr(memory_budget, "tightest_limit", lambda: at_start)
    monkeypatch.setattr(memory_budget, "process_rss", lambda: 1 * GIB)  # nothing allocated yet
    budget = memory_budget.MemoryBudget()  # 3.60 GiB
    monkeypatch.setattr(memory_budget, "available_bytes", lambda: 2 * GIB)  # models loaded since
    first = budget.reserve(int(1.2 * GIB), "the first job")
    with pytest.raises(InsufficientMemoryError, match=r"the second job needs 1\.20 GiB"):
        budget.reserve(int(1.2 * GIB), "the second job")
    monkeypatch.setattr(memory_budget, "process_rss", lambda: int(2.2 * GIB))  # it allocated
    monkeypatch.setattr(memory_budget, "available_bytes", lambda: int(0.8 * GIB))
    budget.reserve(int(0.5 * GIB), "a small job").release()  # 0.72 usable, nothing pending
    first.release()
    assert budget.reserved == 0
