"""Start to SERVING, idle memory, the first request, and memory after a large job.

    .venv/bin/python bench/startup.py [--runs 5] [--caches warm cold] [--large 4000x3000]
        [--code NAME=PYTHONPATH ...]   # e.g. --code before=/tmp/h3-before/daemon --code after=

Each run starts ``python -m stylize serve --port 0`` as tests/conftest.py does (its own
data folder), polls Health every 20 ms and records:

- ``serving_s``: seconds from the process's start to Health's SERVING;
- ``idle_rss_mb``: its RSS (``/proc/PID/status`` VmRSS) ``--idle`` seconds later, and
  ``idle_later_rss_mb`` at ``--idle-later`` seconds (background warm-up and idle release over);
- ``first_s``: in a second start of the same kind, the first request sent the moment
  Health says SERVING (PredictStyle of a bundled style + a 1024x768 Stylize), in seconds;
- with ``--large``: RSS at SERVING + idle, then during and after one large Stylize
  (full resolution), sampled at 1, 3, 5, 10 and 20 s after it returned (``--cancel S``:
  the client cancels it S seconds after sending).

The cache is ``STYLIZE_CACHE_DIR``: warm = a folder every code version has converted
into once before the runs (by an unmeasured start); cold = a fresh empty folder per run.
Runs are interleaved (code versions and caches in turn) and medians reported.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
STYLE = REPO / "daemon" / "stylize" / "samples" / "styles" / "starry_night.jpg"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Daemon:
    def __init__(self, cache: Path, pythonpath: str | None) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="stylize-bench-data-"))
        self.log = self.data / "daemon.log"
        env = {**os.environ, "STYLIZE_CACHE_DIR": str(cache), "STYLIZE_DATA_DIR": str(self.data)}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stylize", "serve", "--port", "0"],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.address = self._address()
        self.serving_s = self._wait_serving()

    def _address(self) -> str:
        while True:
            text = self.log.read_text(errors="replace")
            match = re.search(r"listening address=(\S+):(\d+)", text)
            if match:
                return f"{match.group(1)}:{match.group(2)}"
            if self.process.poll() is not None or time.perf_counter() - self.started > 600:
                raise RuntimeError(f"daemon did not start:\n{self.log.read_text()}")
            time.sleep(0.01)

    def _wait_serving(self) -> float:
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.perf_counter() - self.started < 600:
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        return time.perf_counter() - self.started
                except grpc.RpcError:
                    pass
                time.sleep(0.02)
        raise TimeoutError(self.log.read_text())

    def wait_warm(self) -> None:
        """Until every graph is converted and compiled (the old code: before SERVING)."""
        while time.perf_counter() - self.started < 600:
            text = self.log.read_text(errors="replace")
            if "warm-up done in" in text or "warm-up of the other graphs done" in text:
                return
            time.sleep(0.1)
        raise TimeoutError(self.log.read_text())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)
        shutil.rmtree(self.data, ignore_errors=True)


def first_request(address: str) -> float:
    from stylize.client.library import RawImage, StylizeClient, encoded_style

    rng = np.random.default_rng(0)
    content = RawImage(1024, 768, "RGB8", rng.integers(0, 255, (768, 1024, 3), np.uint8).tobytes())
    started = time.perf_counter()
    with StylizeClient(address) as client:
        client.stylize(content, [encoded_style(STYLE.read_bytes())])
    return time.perf_counter() - started


def large_job(daemon: Daemon, width: int, height: int, idle: float, cancel: float = 0) -> dict:
    from stylize.client.library import ClientError, RawImage, StylizeClient, vector_style
    from stylize.v1 import stylize_pb2 as pb

    pid = daemon.process.pid
    time.sleep(idle)
    before = rss_mb(pid)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (height, width, 3), np.uint8).tobytes()
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], rss_mb(pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    with StylizeClient(daemon.address, timeout=None) as client:
        if cancel:
            threading.Timer(cancel, client.cancel).start()
        try:
            client.stylize(
                RawImage(width, height, "RGB8", data),
                [vector_style([0.0] * 100)],
                options=pb.StylizeOptions(stroke_scale=1 / 64),
            )
        except ClientError as error:
            if error.code != "CANCELLED":
                raise
    seconds = time.perf_counter() - started
    done.set()
    ended = time.perf_counter()
    after = {}
    for mark in (1, 3, 5, 10, 20):
        time.sleep(max(0.0, ended + mark - time.perf_counter()))
        after[f"rss_after_{mark}s_mb"] = rss_mb(pid)
    return {"idle_rss_mb": before, "job_s": seconds, "peak_rss_mb": peak[0], **after}


def run_once(code: str, pythonpath: str | None, cache_kind: str, warm: Path, args) -> dict:
    cache = warm if cache_kind == "warm" else Path(tempfile.mkdtemp(prefix="stylize-cold-"))
    try:
        daemon = Daemon(cache, pythonpath)
        try:
            time.sleep(args.idle)
            result = {
                "code": code,
                "cache": cache_kind,
                "serving_s": daemon.serving_s,
                "idle_rss_mb": rss_mb(daemon.process.pid),
            }
            if args.idle_later > args.idle:
                time.sleep(args.idle_later - args.idle)
                result["idle_later_rss_mb"] = rss_mb(daemon.process.pid)
        finally:
            daemon.stop()
        if cache_kind == "warm":
            daemon = Daemon(cache, pythonpath)
            try:
                result["first_s"] = first_request(daemon.address)
            finally:
                daemon.stop()
        return result
    finally:
        if cache_kind == "cold":
            shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--caches", nargs="+", default=["warm", "cold"])
    parser.add_argument("--idle", type=float, default=3.0, help="seconds after SERVING for RSS")
    parser.add_argument("--idle-later", type=float, default=10.0, help="and again (s)")
    parser.add_argument("--code", nargs="+", default=["current="], help="NAME=PYTHONPATH")
    parser.add_argument("--large", help="WxH: memory around one large job (warm cache)")
    parser.add_argument("--cancel", type=float, default=0, help="cancel it after S seconds")
    args = parser.parse_args()
    codes = [tuple(c.split("=", 1)) for c in args.code]
    warm = {name: Path(tempfile.mkdtemp(prefix=f"stylize-warm-{name}-")) for name, _ in codes}
    for name, path in codes:  # fill each version's warm cache (not measured)
        daemon = Daemon(warm[name], path or None)
        daemon.wait_warm()
        daemon.stop()
    results = []
    try:
        if args.large:
            width, height = map(int, args.large.split("x"))
            for run in range(args.runs):
                for name, path in codes:
                    daemon = Daemon(warm[name], path or None)
                    try:
                        row = {"code": name, "run": run, "size": args.large}
                        row.update(large_job(daemon, width, height, args.idle, args.cancel))
                    finally:
                        daemon.stop()
                    print(json.dumps(row), flush=True)
                    results.append(row)
        else:
            for run in range(args.runs):
                for cache_kind in args.caches:
                    for name, path in codes:
                        row = run_once(name, path or None, cache_kind, warm[name], args)
                        row["run"] = run
                        print(json.dumps(row), flush=True)
                        results.append(row)
    finally:
        for folder in warm.values():
            shutil.rmtree(folder, ignore_errors=True)
    keys = sorted({k for r in results for k in r if k.endswith(("_s", "_mb"))})
    print("\nmedians:")
    groups = sorted({(r["code"], r.get("cache", "large")) for r in results})
    for code, cache in groups:
        rows = [r for r in results if r["code"] == code and r.get("cache", "large") == cache]
        cells = [
            f"{k}={statistics.median(r[k] for r in rows if k in r):.2f}"
            for k in keys
            if any(k in r for r in rows)
        ]
        print(f"  {code:8} {cache:5} n={len(rows)} " + " ".join(cells))


if __name__ == "__main__":
    main()
