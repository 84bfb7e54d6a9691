"""Faults, measured: kill -9 mid-job, a restart on the same port, SIGTERM during a job.

    .venv/bin/python bench/faults.py [--side 1600] [--grace 60]

Loopback only, one daemon at a time, stops by itself. For each fault it records what the
bundled client reported and how long things took: from the kill to the client's error,
from the restart to the next job succeeding, and from SIGTERM to the daemon's exit with
the running job's outcome.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from conftest import sample_photo, start_daemon, stop_daemon  # noqa: E402  the tests' helpers
from stylize.client import library as client  # noqa: E402
from stylize.client import user_messages  # noqa: E402
from stylize.v1 import stylize_pb2 as pb  # noqa: E402


def _content(side: int) -> client.RawImage:
    pixels = np.asarray(sample_photo(side, side).convert("L")).tobytes()
    return client.RawImage(side, side, "GRAY8", pixels)


def kill_mid_job(folder: Path, side: int) -> dict:
    daemon = start_daemon(folder / "kill.log")
    killed_at: list[float] = []

    def kill_when_painting(progress: pb.Progress) -> None:
        if progress.stage == pb.Progress.STAGE_STYLIZING and not killed_at:
            daemon.process.kill()
            killed_at.append(time.perf_counter())

    try:
        with client.StylizeClient(daemon.address, timeout=120) as c:
            c.stylize(_content(side), [client.named_style("starry_night")],
                      on_progress=kill_when_painting)  # fmt: skip
        outcome: dict[str, object] = {"error": None}
    except client.ClientError as error:
        told = time.perf_counter() - killed_at[0]
        words = user_messages.explain(error, daemon.address, 120, "flags")
        outcome = {"code": error.code, "started": error.started, "told_after_s": told,
                   "message": words}  # fmt: skip
    daemon.process.wait()
    port = daemon.address.rpartition(":")[2]
    started = time.perf_counter()
    restarted = start_daemon(folder / "restart.log", "--port", port)
    serving = time.perf_counter() - started
    try:
        with client.StylizeClient(daemon.address, timeout=120) as c:
            c.stylize(_content(256), [client.named_style("starry_night")])
        outcome["restart_to_serving_s"] = serving
        outcome["job_after_restart"] = "OK"
    finally:
        stop_daemon(restarted)
    return outcome


def sigterm_mid_job(folder: Path, side: int, grace: float) -> dict:
    daemon = start_daemon(folder / "term.log", "--shutdown-grace", str(grace))
    signalled: list[float] = []
    result: dict[str, object] = {}

    def job() -> None:
        def term_when_painting(progress: pb.Progress) -> None:
            if progress.stage == pb.Progress.STAGE_STYLIZING and not signalled:
                daemon.process.send_signal(signal.SIGTERM)
                signalled.append(time.perf_counter())

        try:
            with client.StylizeClient(daemon.address, timeout=120) as c:
                c.stylize(_content(side), [client.named_style("starry_night")],
                          on_progress=term_when_painting)  # fmt: skip
            result["job"] = "OK"
        except client.ClientError as error:
            result["job"] = error.code
        result["job_done_after_signal_s"] = time.perf_counter() - signalled[0]

    thread = threading.Thread(target=job)
    thread.start()
    thread.join(180)
    code = daemon.process.wait(180)
    return {**result, "exit_code": code, "exit_after_signal_s": time.perf_counter() - signalled[0],
            "drained": "drained=True" in daemon.log()}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1600, help="job size (default 1600)")
    parser.add_argument("--grace", type=float, default=60.0, help="--shutdown-grace")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        report = {
            "kill_9_mid_job": kill_mid_job(folder, args.side),
            "sigterm_mid_job": sigterm_mid_job(folder, args.side, args.grace),
        }
    print(json.dumps(report, indent=2))
    out = REPO / "bench" / "results" / "faults.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
