"""Shared fixtures: real networks, a real daemon subprocess on loopback, image makers."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "daemon" / "stylize" / "samples"
STYLES = SAMPLES / "styles"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass
class DaemonProcess:
    process: subprocess.Popen
    address: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def channel_to(address: str, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, credentials)


_REFLECTION = {
    "v1alpha": "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    "v1": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
}


def list_services(
    channel: grpc.Channel, version: str, metadata: tuple[tuple[str, str], ...] = ()
) -> list[str]:
    """``list_services`` over reflection ``version`` (v1's messages are v1alpha's bytes)."""
    call = channel.stream_stream(
        _REFLECTION[version],
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = call(iter([request]), timeout=10, metadata=metadata)
    return [s.name for r in responses for s in r.list_services_response.service]


def wait_serving(
    address: str, timeout: float = 120.0, credentials: grpc.ChannelCredentials | None = None
) -> None:
    deadline = time.monotonic() + timeout
    with channel_to(address, credentials) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"daemon at {address} not SERVING after {timeout}s")


def start_daemon(
    log_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    wrapper: Sequence[str] = (),
) -> DaemonProcess:
    """Start ``stylize serve --port 0`` and wait until it reports SERVING.

    ``credentials``: what the health probe connects with to a TLS daemon. ``wrapper``: a
    command prefix that execs the daemon (e.g. one that joins a cgroup first).
    """
    stream = log_path.open("w")
    process = subprocess.Popen(
        [*wrapper, sys.executable, "-m", "stylize", "serve", "--port", "0", *args],
        stdout=stream,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 120
    address = None
    while address is None:
        match = re.search(r"listening address=(\S+):(\d+)", log_path.read_text(errors="replace"))
        if match:
            address = f"{match.group(1)}:{match.group(2)}"
        elif process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"daemon did not start:\n{log_path.read_text()}")
        else:
            time.sleep(0.1)
    wait_serving(address, credentials=credentials)
    return DaemonProcess(process, address, log_path)


def scrape_metrics(daemon: DaemonProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The daemon's Prometheus samples: (name, sorted labels) -> value."""
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    match = re.search(r"metrics address=(\S+):(\d+)", daemon.log())
    assert match, "the daemon was not started with --metrics-port"
    with urlopen(f"http://{match.group(1)}:{match.group(2)}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def run_bridge(
    data: bytes, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m stylize.client.bridge`` as the plug-in does: the request on stdin, which
    stays open (the job's lifeline) until the bridge has answered."""
    import tempfile

    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "stylize.client.bridge", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(data)
            process.stdin.flush()
        except BrokenPipeError:
            pass  # the bridge refused early; its answer is on stdout
        out = process.stdout.read()
        process.stdin.close()
        code = process.wait(timeout)
        errors.seek(0)
        return subprocess.CompletedProcess(process.args, code, out, errors.read())


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; its last value."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


def process_gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaps counts as exited)."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def stop_daemon(daemon: DaemonProcess) -> int:
    if daemon.process.poll() is None:
        daemon.process.send_signal(signal.SIGTERM)
    return daemon.process.wait(timeout=30)


@pytest.fixture(scope="session")
def daemon_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    data_dir = tmp_path_factory.mktemp("stylize-data")
    daemon = start_daemon(
        tmp_path_factory.mktemp("daemon") / "daemon.log",
        "--metrics-port",
        "0",
        env={"STYLIZE_DATA_DIR": str(data_dir)},
    )
    yield daemon
    stop_daemon(daemon)


@pytest.fixture(scope="session")
def daemon_address(daemon_process: DaemonProcess) -> str:
    """ "127.0.0.1:PORT" of a real daemon subprocess, SERVING, shared by the session."""
    return daemon_process.address


@pytest.fixture(scope="session")
def engine():
    from stylize.engine.style_engine import StyleEngine

    return StyleEngine()


# -- memory measured in a fresh process ------------------------------------------------


def measure_in_fresh_process(script: str, *arguments: str, timeout: float = 300) -> dict:
    """Run ``script`` (python -c) in a fresh interpreter; its last stdout line, as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- images --------------------------------------------------------------------------


def sample_photo(width: int = 96, height: int = 64) -> Image.Image:
    return (
        Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((width, height), Image.LANCZOS)
    )


def pan_frames(frames: int, width: int = 64, height: int = 48, step: int = 2) -> list:
    """A camera panning right over the astronaut photo: a list of RGB ``Pixels``."""
    from stylize.engine.images import PixelMode, Pixels

    photo = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((160, 160)))
    return [
        Pixels(
            np.ascontiguousarray(photo[40 : 40 + height, i * step : i * step + width]),
            PixelMode.RGB,
        )
        for i in range(frames)
    ]


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    stream = io.BytesIO()
    image.save(stream, format=fmt, **params)
    return stream.getvalue()


def decode_png(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def style_bytes(name: str = "starry_night") -> bytes:
    return (STYLES / f"{name}.jpg").read_bytes()


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
