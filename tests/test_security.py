"""Security: TLS and mTLS, token-guarded reflection, per-client limits, style links.

One daemon on loopback with TLS, required client certificates, a token and
per-client limits. Clients are told apart by their certificates (alice, bob,
carol), so each test spends its own client's rate budget.
"""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from certificates import CertificateAuthority, Pem
from conftest import (
    REPO,
    STYLES,
    DaemonProcess,
    channel_to,
    encode,
    list_services,
    run_bridge,
    sample_photo,
    scrape_metrics,
    start_daemon,
    stop_daemon,
    style_bytes,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from stylize.client import library as client
from stylize.client.library import ClientError, StylizeClient
from stylize.engine.errors import UnknownStyleError
from stylize.jobs.style_library import StyleLibrary
from stylize.server.config import ServerConfig
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

TOKEN = "tls-s3cret"
BURST = 4


class Pki:
    def __init__(self, folder: Path) -> None:
        self.ca = CertificateAuthority(folder)
        self.server = self.ca.issue("127.0.0.1", server=True)
        names = ("alice", "bob", "carol", "gimp")
        self.clients = {name: self.ca.issue(name, server=False) for name in names}
        self.stranger = CertificateAuthority(folder, "Some other CA").issue("mallory", server=False)

    def credentials(self, who: Pem | None) -> grpc.ChannelCredentials:
        if who is None:
            return grpc.ssl_channel_credentials(self.ca.pem.cert)
        return grpc.ssl_channel_credentials(self.ca.pem.cert, who.key, who.cert)

    def client(self, name: str, token: str = TOKEN) -> StylizeClient:
        who = self.clients[name]
        return StylizeClient(
            self.address,
            token=token,
            root_certificates=self.ca.pem.cert,
            private_key=who.key,
            certificate_chain=who.cert,
        )

    address = ""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def outside_secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    secret = tmp_path_factory.mktemp("elsewhere") / "secret.png"
    secret.write_bytes(encode(sample_photo(64, 64)))  # a readable image: only the link stops it
    return secret


@pytest.fixture(scope="module")
def tls_daemon(
    pki: Pki, outside_secret: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    data = tmp_path_factory.mktemp("data")
    (data / "styles").mkdir()
    (data / "styles" / "escape.png").symlink_to(outside_secret)
    (data / "styles" / "wave.jpg").write_bytes(style_bytes("great_wave"))
    (data / "styles" / "alias.jpg").symlink_to("wave.jpg")  # a link that stays inside is fine
    server, ca = pki.server, pki.ca.pem
    daemon = start_daemon(
        tmp_path_factory.mktemp("tls") / "daemon.log",
        *("--tls-cert", str(server.cert_path), "--tls-key", str(server.key_path)),
        *("--tls-client-ca", str(ca.cert_path)),
        *("--rate-limit", "0.001", "--rate-burst", str(BURST), "--max-jobs-per-client", "1"),
        *("--metrics-port", "0"),
        env={"STYLIZE_TOKEN": TOKEN, "STYLIZE_DATA_DIR": str(data)},
        credentials=pki.credentials(pki.clients["carol"]),
    )
    pki.address = daemon.address
    yield daemon
    assert stop_daemon(daemon) == 0


def _refusal(daemon: DaemonProcess, reason: str) -> float:
    return scrape_metrics(daemon).get(("stylize_refusals_total", (("reason", reason),)), 0.0)


# -- TLS and mTLS ---------------------------------------------------------------------------


def test_mtls_client_with_token_is_served(pki: Pki, tls_daemon: DaemonProcess) -> None:
    with pki.client("carol") as carol:
        assert carol.info().style_vector_size == 100
        result = carol.stylize(encode(sample_photo(32, 32)), [client.named_style("wave")])
    assert result.encoded is not None and result.encoded.startswith(b"\x89PNG")


def test_cli_connects_with_tls_and_a_client_certificate(
    pki: Pki, tls_daemon: DaemonProcess
) -> None:
    carol = pki.clients["carol"]
    tls = ["--tls-ca", str(pki.ca.pem.cert_path), "--tls-cert", str(carol.cert_path)]
    result = subprocess.run(
        [sys.executable, "-m", "stylize", "info", "--address", tls_daemon.address, *tls,
         "--tls-key", str(carol.key_path)],
        capture_output=True, text=True, timeout=60,
        env={"STYLIZE_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"style_vector_size": 100' in result.stdout


def test_cli_client_certificate_without_its_key_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stylize", "info", "--tls-cert", str(tmp_path / "me.crt")],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "--tls-cert and --tls-key must be given together" in result.stderr


@pytest.mark.parametrize("who", ["none", "stranger", "plaintext"])
def test_handshake_refused_without_a_trusted_client_certificate(
    pki: Pki, tls_daemon: DaemonProcess, who: str
) -> None:
    credentials = {"none": pki.credentials(None), "stranger": pki.credentials(pki.stranger)}
    with channel_to(tls_daemon.address, credentials.get(who)) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        metadata = (("authorization", f"Bearer {TOKEN}"),)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetInfo(pb.GetInfoRequest(), timeout=10, metadata=metadata)
    # no TLS session, so no call: the right token is not enough
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_token_still_required_over_mtls(pki: Pki, tls_daemon: DaemonProcess) -> None:
    with pki.client("carol", token="") as anonymous, pytest.raises(ClientError) as caught:
        anonymous.info()
    assert caught.value.code == "UNAUTHENTICATED"


# -- reflection and health under auth ----------------------------------------------------------


@pytest.mark.parametrize("version", ["v1alpha", "v1"])
def test_reflection_needs_the_token_health_does_not(
    pki: Pki, tls_daemon: DaemonProcess, version: str
) -> None:
    before = _refusal(tls_daemon, "UNAUTHENTICATED")
    with channel_to(tls_daemon.address, pki.credentials(pki.clients["carol"])) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            list_services(channel, version)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # refused by the auth interceptor, yet observed: counted, and given a request id
        assert "stylize-request-id" in dict(caught.value.trailing_metadata())
        assert _refusal(tls_daemon, "UNAUTHENTICATED") == before + 1
        services = list_services(channel, version, (("authorization", f"Bearer {TOKEN}"),))
        assert "stylize.v1.StyleTransfer" in services
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="stylize.v1.StyleTransfer"), timeout=10
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING


# -- per-client limits -------------------------------------------------------------------------


def _refusal_details(error: grpc.RpcError) -> tuple[str, float | None]:
    """The ErrorInfo reason and the RetryInfo delay (None: none) of a refusal's status."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status details"
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert any(d.Unpack(info) for d in status.details)
    if not any(d.Unpack(retry) for d in status.details):
        return info.reason, None
    return info.reason, retry.retry_delay.ToTimedelta().total_seconds()


def test_rate_limit_refuses_past_the_burst_per_client(pki: Pki, tls_daemon: DaemonProcess) -> None:
    request = pb.PredictStyleRequest(style=client.encoded_style(encode(sample_photo(40, 40))))
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    before = _refusal(tls_daemon, "RATE_LIMITED")
    # a raw stub: no retry policy between the test and the daemon's answer
    with channel_to(tls_daemon.address, pki.credentials(pki.clients["alice"])) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        for _ in range(BURST):
            assert len(stub.PredictStyle(request, timeout=60, metadata=metadata).vector.values)
        with pytest.raises(grpc.RpcError) as caught:
            stub.PredictStyle(request, timeout=60, metadata=metadata)
        with pytest.raises(grpc.RpcError):
            stub.PredictStyle(request, timeout=60, metadata=metadata)
        info = stub.GetInfo(pb.GetInfoRequest(), timeout=30, metadata=metadata)
        assert info.style_vector_size == 100  # GetInfo is not rate limited
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    message = caught.value.details()
    assert "rate limit" in message and "--rate-limit" in message
    # one token per 1000 s, the last one just spent: about 1000 s to wait. Said in the
    # message, not offered for automatic retry (no RetryInfo, pushback -1): too long.
    assert 990 < float(message.split("retry in ")[1].split(" s")[0]) <= 1000
    assert _refusal_details(caught.value) == ("RATE_LIMITED", None)
    assert ("grpc-retry-pushback-ms", "-1") in caught.value.trailing_metadata()
    assert _refusal(tls_daemon, "RATE_LIMITED") == before + 2
    with pki.client("alice") as alice, pytest.raises(ClientError) as told:
        alice.predict_style(request.style)  # the bundled client says so at once
    assert (told.value.reason, told.value.code) == ("RATE_LIMITED", "RESOURCE_EXHAUSTED")
    with pki.client("carol") as carol:  # another client has its own bucket
        assert len(carol.predict_style(request.style)) == 100


def test_second_open_stylize_of_one_client_is_refused(pki: Pki, tls_daemon: DaemonProcess) -> None:
    data = encode(sample_photo(48, 48))
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(encoded=pb.EncodedKind(), total_bytes=len(data)),
        styles=[client.named_style("wave")],
    )
    send_content = threading.Event()

    def held_requests() -> Iterator[pb.StylizeRequest]:
        yield pb.StylizeRequest(setup=setup)
        send_content.wait(timeout=60)
        yield pb.StylizeRequest(content_chunk=data)

    def whole_requests() -> Iterator[pb.StylizeRequest]:
        yield pb.StylizeRequest(setup=setup)
        yield pb.StylizeRequest(content_chunk=data)

    before = _refusal(tls_daemon, "CLIENT_CONCURRENCY")
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    with channel_to(tls_daemon.address, pki.credentials(pki.clients["bob"])) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        first = stub.Stylize(held_requests(), timeout=60, metadata=metadata)
        first_events: list[pb.StylizeEvent] = []
        reader = threading.Thread(target=lambda: first_events.extend(first))
        reader.start()
        _wait_until_in_flight(tls_daemon, "stylize.v1.StyleTransfer/Stylize")
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.Stylize(whole_requests(), timeout=60, metadata=metadata))
        send_content.set()
        reader.join(timeout=60)
        assert any(e.WhichOneof("event") == "result" for e in first_events)
    with pki.client("bob") as bob:  # the place is given back when the first call ends
        assert bob.stylize(data, [client.named_style("wave")]).encoded is not None
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-jobs-per-client" in caught.value.details()
    assert _refusal_details(caught.value) == ("CLIENT_CONCURRENCY", 1.0)
    assert _refusal(tls_daemon, "CLIENT_CONCURRENCY") == before + 1


def _wait_until_in_flight(daemon: DaemonProcess, method: str) -> None:
    """Poll the metrics until the daemon is serving a call of ``method``."""
    key = ("stylize_requests_in_flight", (("method", method),))
    deadline = time.monotonic() + 30
    while scrape_metrics(daemon).get(key, 0.0) < 1:
        assert time.monotonic() < deadline, f"no {method} call in flight"
        time.sleep(0.05)


# -- style links ---------------------------------------------------------------------------------


def test_style_link_out_of_the_folder_cannot_be_read(
    pki: Pki, tls_daemon: DaemonProcess, outside_secret: Path
) -> None:
    with pki.client("carol") as carol:
        assert {"wave", "alias"} <= set(carol.info().named_styles)
        assert "escape" not in carol.info().named_styles
        with pytest.raises(ClientError) as caught:
            carol.predict_style(client.named_style("escape"))
        assert caught.value.code == "NOT_FOUND"
        assert len(carol.predict_style(client.named_style("alias"))) == 100
    assert f"it links to {outside_secret}" in tls_daemon.log()


def test_gallery_needs_the_token_and_lists_no_link_out_of_the_folder(
    pki: Pki, tls_daemon: DaemonProcess
) -> None:
    with pki.client("gimp", token="wrong") as stranger:
        for call in (stranger.list_styles, lambda: stranger.add_style("x", style_bytes())):
            with pytest.raises(ClientError) as caught:
                call()
            assert caught.value.code == "UNAUTHENTICATED"
    with pki.client("carol") as carol:
        names = {style.name for style in carol.list_styles()}
    assert {"wave", "alias"} <= names and "escape" not in names
    assert "x" not in names


def test_style_library_resolves_links_and_keeps_them_inside(tmp_path: Path) -> None:
    folder, elsewhere = tmp_path / "styles", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    (elsewhere / "secret.png").write_bytes(b"not for you")
    (folder / "escape.png").symlink_to(elsewhere / "secret.png")
    (folder / "dots.png").symlink_to("../elsewhere/secret.png")
    (folder / "real.png").write_bytes(encode(sample_photo(8, 8)))
    (folder / "alias.png").symlink_to("real.png")
    library = StyleLibrary(user_dir=folder, bundled_dir=tmp_path / "none")
    assert set(library.styles()) == {"real", "alias"}
    assert library.get("alias").path == (folder / "real.png").resolve()
    for name in ("escape", "dots"):
        with pytest.raises(UnknownStyleError):
            library.get(name)


# -- off loopback ----------------------------------------------------------------------------------


def test_off_loopback_needs_tls_or_insecure(tmp_path: Path) -> None:
    server = CertificateAuthority(tmp_path).issue("127.0.0.1", server=True)
    cert, key = server.cert_path, server.key_path  # check() reads them: real PEM files
    exposed = ServerConfig(host="0.0.0.0", token="t")
    with pytest.raises(ValueError, match="--insecure"):
        exposed.check()
    ServerConfig(host="0.0.0.0", token="t", insecure=True).check()
    ServerConfig(host="0.0.0.0", token="t", tls_cert=cert, tls_key=key).check()
    ServerConfig(host="::1").check()  # loopback needs neither
    with pytest.raises(ValueError, match="token"):  # --insecure waives TLS, never the token
        ServerConfig(host="0.0.0.0", insecure=True).check()
    with pytest.raises(ValueError, match="--tls-client-ca"):
        ServerConfig(tls_client_ca=cert).check()


def test_serve_off_loopback_without_tls_exits_with_the_fix() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stylize", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "STYLIZE_TOKEN": "t"},
    )
    assert result.returncode == 2
    assert "--tls-cert" in result.stderr and "--insecure" in result.stderr


_INSECURE_RUN = """
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from conftest import start_daemon, stop_daemon
from stylize.client.library import StylizeClient

log = Path(sys.argv[2])
daemon = start_daemon(log, "--host", "0.0.0.0", "--insecure", env={"STYLIZE_TOKEN": "t"})
with StylizeClient(daemon.address, token="t") as c:
    c.info()
stop_daemon(daemon)
"""


def test_insecure_off_loopback_is_loudly_logged(tmp_path: Path) -> None:
    """--insecure on 0.0.0.0, inside a private network namespace nothing else can reach."""
    try:
        lo_up = ["unshare", "-rn", "ip", "link", "set", "lo", "up"]
        probe = subprocess.run(lo_up, capture_output=True, check=False)
    except FileNotFoundError:
        probe = None
    if probe is None or probe.returncode != 0:
        pytest.skip("needs unshare -rn and ip (a private network namespace) to listen off loopback")
    log = tmp_path / "daemon.log"
    script = f"ip link set lo up && exec {sys.executable} -c '{_INSECURE_RUN}' \"$@\""
    tests = str(Path(__file__).parent)
    run = subprocess.run(
        ["unshare", "-rn", "sh", "-c", script, "sh", tests, str(log)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr + log.read_text()
    warnings = [line for line in log.read_text().splitlines() if " WARNING " in line]
    assert any("INSECURE: listening on 0.0.0.0 without TLS" in line for line in warnings)
    assert any("serving device=" in line and "transport=insecure" in line for line in warnings)
    assert any("GetInfo code=OK" in line and "transport=insecure" in line for line in warnings)


def test_token_bucket_refills_at_the_rate_and_says_when() -> None:
    from stylize.server.limits import ClientLimits, RateLimitedError

    now = [100.0]
    limits = ClientLimits(rate=2.0, burst=3, max_open=0, clock=lambda: now[0])
    for _ in range(3):
        limits.take("ip:10.0.0.1")
    with pytest.raises(RateLimitedError) as caught:
        limits.take("ip:10.0.0.1")
    assert caught.value.retry_after == pytest.approx(0.5)  # one token per 1/2 s
    assert "retry in 0.5 s" in str(caught.value)
    limits.take("ip:10.0.0.2")  # another client: its own full bucket
    now[0] += 0.5
    limits.take("ip:10.0.0.1")
    with pytest.raises(RateLimitedError):
        limits.take("ip:10.0.0.1")
    now[0] += 60  # a long pause refills to the burst, not beyond
    for _ in range(3):
        limits.take("ip:10.0.0.1")
    with pytest.raises(RateLimitedError):
        limits.take("ip:10.0.0.1")


def test_open_stylize_cap_releases_once() -> None:
    from stylize.server.limits import ClientBusyError, ClientLimits

    limits = ClientLimits(rate=0, burst=1, max_open=2)
    first, second = limits.open_job("cert:bob"), limits.open_job("cert:bob")
    with pytest.raises(ClientBusyError):
        limits.open_job("cert:bob")
    first()
    first()  # the end-of-call callback and the handler both release: counted once
    third = limits.open_job("cert:bob")
    with pytest.raises(ClientBusyError):
        limits.open_job("cert:bob")
    second()
    third()


# -- the GIMP bridge with TLS credentials from the installer -------------------------------


def test_gimp_bridge_reaches_a_tls_daemon(
    pki: Pki, tls_daemon: DaemonProcess, tmp_path: Path
) -> None:
    """`stylize gimp install --tls-ca/--tls-cert/--tls-key/--token-file` -> the bridge uses them."""
    from stylize.client import bridge as bridge_module

    sys.path.insert(0, str(REPO / "gimp_plugin"))
    from stylize_gimp import core, protocol

    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    who = pki.clients["gimp"]
    plugins = tmp_path / "plug-ins"
    install = subprocess.run(
        [sys.executable, "-m", "stylize", "gimp", "install", "--gimp", "2.10", "--dir",
         str(plugins), "--address", tls_daemon.address, "--tls-ca", str(pki.ca.pem.cert_path),
         "--tls-cert", str(who.cert_path), "--tls-key", str(who.key_path),
         "--token-file", str(token), "--no-check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    settings = core.load_settings(str(plugins / "stylize_gimp" / core.CONFIG_FILE))
    assert settings["tls_ca"] == str(pki.ca.pem.cert_path.resolve())
    pixels = bytes(range(256)) * 16  # 64 x 64 grey
    request = core.make_request(1.0, "", [(str(STYLES / "starry_night.jpg"), 1.0)])
    header, blobs = core.build_request(pixels, 64, 64, core.PixelFormat(True, False), request,
                                       settings)  # fmt: skip
    done = run_bridge(  # no STYLIZE_TOKEN: the token comes from the file
        protocol.encode_request(header, blobs), env={"PATH": "/usr/bin:/bin"}
    )
    events = list(protocol.read_events(io.BytesIO(done.stdout)))
    assert events[-1]["event"] == "result", events[-1]
    assert len(events[-1]["data"]) == 64 * 64
    assert bridge_module.PROTOCOL_VERSION == protocol.VERSION


def test_gimp_install_refuses_a_missing_credential_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stylize", "gimp", "install", "--gimp", "2.10", "--dir",
         str(tmp_path), "--tls-ca", str(tmp_path / "nope.crt"), "--no-check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "no such file" in done.stderr
