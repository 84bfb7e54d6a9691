"""A daemon with converted models in its cache starts without TensorFlow, says NOT_SERVING
until it can serve, and gives memory back when idle (issue 19: start fast, idle light).

Timings live in bench/startup.py and BENCHMARKS.md, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from stylize.engine import backends
from stylize.engine.idle_memory import IdleRelease, trim_heap

# Fills the converted-model cache if it is cold (TensorFlow converts), as a first start does.
FILL_CACHE = "from stylize.engine.style_engine import StyleEngine; StyleEngine().warm_up()"

# The daemon's own start (cli.py `serve`): health before and after load_models, then the
# background warm-up to its end, a job's options checked, and what was imported by then.
START = """
import json, sys, threading
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from stylize.engine.optimization.method import OptimizeOptions
from stylize.server.config import ServerConfig
from stylize.server.malloc_tuning import tune_malloc
from stylize.server.server import Daemon

tune_malloc()
daemon = Daemon(ServerConfig(port=0))
daemon.start()
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{daemon.port}"))

def status():
    response = stub.Check(health_pb2.HealthCheckRequest(), timeout=30)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

before = status()
daemon.load_models()
after = status()
for thread in threading.enumerate():
    if thread.name == "stylize-warm-up":
        thread.join()
OptimizeOptions(iterations=10, optimizer="adam")
heavy = ("tensorflow", "keras", "tf_keras")
print(json.dumps({
    "before": before,
    "after": after,
    "imported": [name for name in heavy if name in sys.modules],
}))
daemon.stop(0)
"""


def _python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@pytest.fixture
def cpu_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> dict[str, str]:
    env = {**os.environ, "STYLIZE_DATA_DIR": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop(backends.BACKEND_VARIABLE, None)  # the default: OpenVINO on this CPU
    return env


def test_a_warm_daemon_never_imports_tensorflow(cpu_env: dict[str, str]) -> None:
    _python(FILL_CACHE, cpu_env)
    result = json.loads(_python(START, cpu_env).strip().splitlines()[-1])
    assert result["before"] == "NOT_SERVING"  # while the models load
    assert result["after"] == "SERVING"
    assert result["imported"] == [], "the warm path needs OpenVINO only"


@pytest.mark.slow
def test_a_cold_cache_converts_with_tensorflow_and_serves(
    cpu_env: dict[str, str], tmp_path
) -> None:
    """The other side: with nothing cached, TensorFlow converts (and is imported for it)."""
    env = {**cpu_env, backends.CACHE_VARIABLE: str(tmp_path / "cache")}
    result = json.loads(_python(START, env).strip().splitlines()[-1])
    assert (result["before"], result["after"]) == ("NOT_SERVING", "SERVING")
    assert "tensorflow" in result["imported"]
    assert any((tmp_path / "cache").rglob("model.xml"))


def test_idle_release_waits_for_the_last_job() -> None:
    released = threading.Event()
    idle = IdleRelease(released.set, delay=0.01)
    with idle.job():
        with idle.job():
            pass
        assert not released.wait(0.3), "released while a job was running"
    assert released.wait(30)


def test_a_job_that_starts_cancels_the_pending_release() -> None:
    calls: list[int] = []
    idle = IdleRelease(lambda: calls.append(1), delay=3600)
    with idle.job():
        pass
    with idle.job():  # within the delay: the first countdown is cancelled
        pass
    assert idle._timer is not None and calls == []
    idle._timer.cancel()


def test_heap_trim_is_harmless() -> None:
    assert trim_heap() in (True, False)  # glibc: memory back; elsewhere: nothing to do


def test_idle_release_compiles_large_graphs_afresh(tmp_path) -> None:
    """A whole-image graph that ran a large image is compiled anew when idle (the old one
    keeps that image's buffers); it gives the same results after."""
    import tensorflow as tf

    double = tf.function(lambda x: 2.0 * x, input_signature=[tf.TensorSpec([None], tf.float32)])
    backend = backends.OpenVinoBackend("f32", 1, "test", cache=tmp_path)
    backend.prepare({"double": double}, "ns", precise=set(), passes=set())
    small = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(backend.run(double, small)[0], 2 * small)
    first = backend._compiled[double]
    backend.release_idle()
    assert backend._compiled[double] is first, "small images keep their compiled graph"
    large = np.ones(backends.LARGE_INPUT_BYTES // 4, np.float32)
    assert backend.run(double, large)[0][0] == 2.0
    backend.release_idle()
    assert backend._compiled[double] is not first
    np.testing.assert_array_equal(backend.run(double, small)[0], 2 * small)


def test_idle_release_never_converts_a_graph_again() -> None:
    """Without the converted model on disk a fresh compile would mean converting it again
    (TensorFlow, seconds): such a graph keeps its compiled model."""
    import tensorflow as tf

    double = tf.function(lambda x: 2.0 * x, input_signature=[tf.TensorSpec([None], tf.float32)])
    backend = backends.OpenVinoBackend("f32", 1, "test", cache=None)
    backend.prepare({"double": double}, "ns", precise=set(), passes=set())
    large = np.ones(backends.LARGE_INPUT_BYTES // 4, np.float32)
    assert backend.run(double, large)[0][0] == 2.0
    first = backend._compiled[double]
    backend.release_idle()
    assert backend._compiled[double] is first
