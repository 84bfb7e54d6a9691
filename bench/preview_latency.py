"""Preview latency of the GIMP 3 dialog: from a slider change to the updated preview.

    .venv/bin/python bench/preview_latency.py [--rounds 12] [--side 320] [--address HOST:PORT]

The dialog's path (gimp_plugin/gimp3/.../stylize-neural-style.py ``_LivePreview``): a
change starts a render 10 ms later (DELAY_MS: one edit's notifications make one render)
unless one is running; then the newest settings render as soon as it ends
(stylize_gimp.latest_render.LatestRender, which the drag below runs as the dialog does:
nothing stale piles up). A worker thread builds the request from the settings and calls
``gimp3_preview.render``: GEGL reads the layer already scaled to 320 px (not run here:
no GIMP on this machine), then ``core.stylize`` spawns the bridge
(``python -m stylize.client.bridge``), which sends the 320 px RGBA pixels and the style to the
daemon over gRPC and streams the result back; the main loop shows it. This script runs
exactly that ``core`` call, with a new strength for every render as a slider would give,
the style as a file (re-read and re-sent each time, as the dialog does) and as a gallery
style (by name), interleaved. Reported: the render (request to pixels back), the part of
it the daemon computed (its ResultHeader seconds), slider-to-preview = the 10 ms delay +
the render, and a **drag**: a slider moved every 16 ms (60 Hz) for ``--drag`` seconds
through LatestRender and the session: previews shown per second, and the time from the
slider's release (its last change) to the preview of that last value. The first render
of each kind (cold style cache) is reported separately, and so is the bridge's own start
(``python -m stylize.client.bridge --check``: interpreter start and the gRPC client's
imports, paid by every render in a new bridge).
The dialog itself keeps one bridge for all its previews (``core.BridgeSession``,
``python -m stylize.client.bridge --session``); "in_session" figures time that path. A daemon is
started on a free loopback port unless --address names one.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "gimp_plugin"), str(REPO / "bench")]
STYLE_FILE = REPO / "daemon" / "stylize" / "samples" / "styles" / "starry_night.jpg"
PHOTO = REPO / "daemon" / "stylize" / "samples" / "astronaut.jpg"
DEBOUNCE_S = 0.010  # _LivePreview.DELAY_MS
SLIDER_EVERY_S = 0.016  # a slider dragged at 60 Hz


def start_daemon(log: Path) -> tuple[subprocess.Popen, str]:
    stream = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "stylize", "serve", "--port", "0"], stdout=stream, stderr=stream
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        found = re.search(r"listening address=(\S+):(\d+)", text)
        if found and "serving" in text:
            return process, f"{found.group(1)}:{found.group(2)}"
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"daemon did not start:\n{log.read_text()}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(1000 * statistics.median(values), 1),
        "p90_ms": round(1000 * percentile(values, 0.9), 1),
        "min_ms": round(1000 * min(values), 1),
    }


def drag(session: Any, render: Callable[[Any, float], None], seconds: float) -> dict[str, Any]:
    """A slider dragged for ``seconds``, the dialog's scheduling run as it runs in GIMP:
    LatestRender on a main loop (this thread), renders in a worker thread."""
    from stylize_gimp.latest_render import LatestRender

    renders, done = LatestRender(), queue.Queue()  # type: ignore[var-annotated]
    value = {"strength": 0.3}
    shown: list[tuple[float, float]] = []  # (time, strength shown)

    def start() -> None:
        strength = value["strength"]  # the settings are read when the render starts

        def work() -> None:
            render(session, strength)
            done.put(strength)

        threading.Thread(target=work, daemon=True).start()

    began = time.perf_counter()
    changes = int(seconds / SLIDER_EVERY_S)
    for change in range(changes + 1):
        value["strength"] = 0.3 + 0.7 * change / changes
        wake = began + change * SLIDER_EVERY_S
        while True:  # the main loop until the next slider event
            try:
                strength = done.get(timeout=max(0.0, wake - time.perf_counter()))
            except queue.Empty:
                break
            shown.append((time.perf_counter(), strength))
            if renders.end():
                start()
        if renders.begin():  # (the 10 ms delay is left out: slider events are 16 ms apart)
            start()
    released = time.perf_counter()
    final = value["strength"]
    while not shown or shown[-1][1] != final:
        shown.append((time.perf_counter(), done.get(timeout=60)))
        if renders.end():
            start()
    return {
        "slider_events": changes + 1,
        "renders": renders.started,
        "previews_per_second": round(sum(t <= released for t, _ in shown) / (released - began), 1),
        "release_to_final_preview_ms": round(1000 * (shown[-1][0] - released), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--side", type=int, default=320, help="preview long side (PREVIEW_SIDE)")
    parser.add_argument("--address", help="an already running daemon")
    parser.add_argument("--drag", type=float, default=3.0, help="seconds of slider drag")
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "preview.json"))
    args = parser.parse_args()

    from benchmark import cpu_description
    from PIL import Image
    from stylize_gimp import core

    photo = Image.open(PHOTO).convert("RGBA")
    width, height, _ = core.preview_size(photo.width, photo.height, args.side)
    pixels = photo.resize((width, height), Image.Resampling.BOX).tobytes()  # as GEGL reads it
    fmt = core.PixelFormat(False, True)

    daemon = None
    with tempfile.TemporaryDirectory() as scratch:
        address = args.address
        if address is None:
            daemon, address = start_daemon(Path(scratch) / "daemon.log")
        settings = {"python": sys.executable, "pythonpath": "", "address": address,
                    "timeout": 120.0, "connect_timeout": 10.0}  # fmt: skip
        styles = {"file": str(STYLE_FILE), "gallery": core.LibraryStyle("starry_night")}
        session = core.BridgeSession(settings)  # what the dialog uses: one warm bridge
        warm: dict[str, list[float]] = {kind: [] for kind in styles}
        times: dict[str, list[float]] = {kind: [] for kind in styles}
        computed: dict[str, list[float]] = {kind: [] for kind in styles}
        first: dict[str, float] = {}
        bridge_start: list[float] = []
        try:
            for index in range(args.rounds + 1):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "stylize.client.bridge", "--check"],
                               check=True, capture_output=True)  # fmt: skip
                bridge_start.append(time.perf_counter() - started)
                strength = 0.3 + 0.7 * (index % 8) / 7  # a slider moving to new values
                for kind, style in styles.items():
                    started = time.perf_counter()
                    request = core.make_request(strength, "", [(style, 1.0)])
                    header, blobs = core.build_request(pixels, width, height, fmt, request,
                                                       settings)  # fmt: skip
                    event = core.run_bridge(header, blobs, settings)
                    elapsed = time.perf_counter() - started
                    assert len(event["data"]) == len(pixels)
                    if index == 0:
                        first[kind] = elapsed
                        continue
                    times[kind].append(elapsed)
                    computed[kind].append(float(event["seconds"]))
                for kind, style in styles.items():
                    started = time.perf_counter()
                    request = core.make_request(strength, "", [(style, 1.0)])
                    out = session.stylize(pixels, width, height, fmt, request)
                    assert len(out) == len(pixels)
                    if index:
                        warm[kind].append(time.perf_counter() - started)

            def render(session: Any, strength: float) -> None:
                request = core.make_request(strength, "", [(styles["gallery"], 1.0)])
                session.stylize(pixels, width, height, fmt, request)

            drags = [drag(session, render, args.drag) for _ in range(3)]
        finally:
            session.close()
            if daemon is not None:
                daemon.terminate()
                daemon.wait(30)

    result = {
        "method": "bench/preview_latency.py",
        "preview": f"{width}x{height} RGBA",
        "rounds": args.rounds,
        "cpu": cpu_description(),
        "load_average": os.getloadavg(),
        "debounce_ms": 1000 * DEBOUNCE_S,
        "bridge_start": summary(bridge_start),
        "drags": drags,
        "kinds": {
            kind: {
                "render": summary(times[kind]),
                "render_in_session": summary(warm[kind]),
                "slider_to_preview_in_session": summary([DEBOUNCE_S + t for t in warm[kind]]),
                "daemon_compute": summary(computed[kind]),
                "slider_to_preview": summary([DEBOUNCE_S + t for t in times[kind]]),
                "first_render_ms": round(1000 * first[kind], 1),
            }
            for kind in styles
        },
    }
    text = json.dumps(result, indent=1)
    print(text)
    Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
