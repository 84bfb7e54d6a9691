"""What the daemon's interceptors (observe -> auth -> limits) cost per call.

Two in-process daemons on loopback, identical but for the interceptors: one
with the full stack (metrics, request id, access log, token check, rate and
open-call limits), one with none. Neither loads models, so PredictStyle ends
at once in the servicer ("still loading", UNAVAILABLE): the difference is the
interceptors' own cost, on the path every Stylize and PredictStyle call takes.
The client is this process; rounds alternate between the two daemons.

    .venv/bin/python bench/interceptor_overhead.py --calls 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path

import grpc
from stylize import logs
from stylize.server.config import ServerConfig
from stylize.server.server import Daemon
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

RESULTS = Path(__file__).parent / "results"


class BareDaemon(Daemon):
    def _interceptors(self) -> list[grpc.ServerInterceptor]:
        return []


def time_calls(address: str, calls: int, metadata: tuple[tuple[str, str], ...]) -> list[float]:
    with grpc.insecure_channel(address) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        request = pb.PredictStyleRequest(style=pb.StyleSource(named="great_wave"))
        seconds = []
        for _ in range(calls):
            started = time.perf_counter()
            try:
                stub.PredictStyle(request, timeout=10, metadata=metadata)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error
            seconds.append(time.perf_counter() - started)
    return seconds


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logs.configure("info")  # as `stylize serve` logs: one access line per call, to /dev/null
    logging.getLogger().handlers[0].setStream(open(os.devnull, "w"))  # noqa: SIM115
    limits = {"rate_limit": 1e9, "rate_burst": 10**9, "max_jobs_per_client": 8}
    full = Daemon(ServerConfig(port=0, token="bench", **limits))  # type: ignore[arg-type]
    bare = BareDaemon(ServerConfig(port=0))
    for daemon in (full, bare):
        daemon.start()
    token = (("authorization", "Bearer bench"),)
    runs: dict[str, list[float]] = {"full": [], "bare": []}
    try:
        for daemon, metadata in ((full, token), (bare, ())):
            time_calls(f"127.0.0.1:{daemon.port}", 200, metadata)  # warm the channel paths
        for _ in range(args.rounds):
            runs["full"] += time_calls(f"127.0.0.1:{full.port}", args.calls, token)
            runs["bare"] += time_calls(f"127.0.0.1:{bare.port}", args.calls, ())
    finally:
        for daemon in (full, bare):
            daemon.stop(grace=0)
    summary = {
        name: {
            "median_us": statistics.median(values) * 1e6,
            "p99_us": statistics.quantiles(values, n=100)[98] * 1e6,
            "calls": len(values),
        }
        for name, values in runs.items()
    }
    summary["overhead_median_us"] = summary["full"]["median_us"] - summary["bare"]["median_us"]
    summary["machine"] = {"cpu": _cpu_model(), "cores": os.cpu_count(), "grpc": grpc.__version__}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "interceptor-overhead.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
