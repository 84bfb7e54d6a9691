"""deploy/kubernetes/: the manifests agree with the daemon they run.

The container's arguments are parsed by the real CLI parser, so ports, probe port
and health service name are checked against what `stylize serve` will actually do;
and the probe port itself is exercised on a real daemon.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from conftest import REPO, start_daemon, stop_daemon
from grpc_health.v1 import health_pb2, health_pb2_grpc
from stylize.client import cli
from stylize.server.config import DEFAULT_PORT
from stylize.server.server import SERVICE_NAME
from stylize.v1 import stylize_pb2, stylize_pb2_grpc

DEPLOY = REPO / "deploy" / "kubernetes"
BASE = DEPLOY / "base"


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def only(kind: str, path: Path) -> dict[str, Any]:
    (doc,) = [d for d in load(path) if d["kind"] == kind]
    return doc


@pytest.fixture(scope="module")
def container() -> dict[str, Any]:
    deployment = only("Deployment", BASE / "deployment.yaml")
    (stylize,) = deployment["spec"]["template"]["spec"]["containers"]
    return stylize


def ports(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container["ports"]}


def test_every_manifest_parses_and_kustomization_lists_them() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert {f.name for f in files} >= {"deployment.yaml", "service.yaml", "kustomization.yaml"}
    for path in files:
        assert load(path), path
    base = load(BASE / "kustomization.yaml")[0]
    assert all((BASE / name).is_file() for name in base["resources"])


def test_serve_arguments_use_the_daemons_port_and_a_health_port(container) -> None:
    args = cli.build_parser().parse_args(container["args"])
    assert args.func is cli.cmd_serve
    assert args.port == DEFAULT_PORT == ports(container)["grpc"]
    assert args.health_port == ports(container)["health"]
    # off loopback: a token and TLS, both from mounted Secrets
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert args.host == "0.0.0.0"
    assert Path(args.token_file).parent == Path(mounts["token"])
    assert Path(args.tls_cert) == Path(mounts["tls"]) / "tls.crt"  # kubernetes.io/tls keys
    assert Path(args.tls_key) == Path(mounts["tls"]) / "tls.key"


def test_probes_ask_the_health_port_for_the_service_the_daemon_reports(container) -> None:
    args = cli.build_parser().parse_args(container["args"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc_probe = container[probe]["grpc"]
        assert grpc_probe == {"port": args.health_port, "service": SERVICE_NAME}, probe


def test_secrets_resources_and_headless_service(container) -> None:
    spec = only("Deployment", BASE / "deployment.yaml")["spec"]
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert volumes["token"]["secret"]["secretName"] == "stylize-token"
    assert volumes["tls"]["secret"]["secretName"] == "stylize-tls"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    service = only("Service", BASE / "service.yaml")["spec"]
    assert service["clusterIP"] == "None"  # DNS returns every pod: gRPC balances
    assert service["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(DEFAULT_PORT, "grpc")]


def test_gpu_overlay_adds_a_node_selector_and_a_gpu(container) -> None:
    patch = only("Deployment", DEPLOY / "gpu" / "gpu-patch.yaml")
    pod = patch["spec"]["template"]["spec"]
    assert pod["nodeSelector"]
    (patched,) = pod["containers"]
    assert patched["name"] == container["name"]
    assert patched["resources"]["limits"]["nvidia.com/gpu"] == 1


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("overlay", ["base", "gpu"])
def test_kustomize_renders(overlay: str) -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / overlay)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(result.stdout) if d)
    assert kinds == ["Deployment", "Service"]


def test_the_health_port_answers_probes_and_nothing_else(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        health_port = probe.getsockname()[1]
    daemon = start_daemon(tmp_path / "daemon.log", "--health-port", str(health_port))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{health_port}") as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5
            )
            assert status.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as caught:
                stylize_pb2_grpc.StyleTransferStub(channel).GetInfo(
                    stylize_pb2.GetInfoRequest(), timeout=5
                )
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        assert stop_daemon(daemon) == 0
