"""Stylize benchmark: every path side by side in one run, each in its own process.

    .venv/bin/python bench/benchmark.py [--sizes 512 1024 2048 4000x3000 6000x4000 8192]

Paths (content: the bundled astronaut photo resized to each size; style: the bundled
Starry Night at the predictor's 256 x 256; the style vector is computed once per worker):
  engine     our engine in-process (the backend the daemon would pick: BACKEND below)
  grpc       a separate client process -> the daemon over loopback gRPC (raw RGB in and
             out, style sent as image bytes); the daemon is restarted for every round
  ort-int8   the shipped int8 transfer network in onnxruntime (ORT_ENABLE_ALL)
  ort-float  the same network with its activation quantization removed (float graph)
  ov-f32     OpenVINO on the float graph, inference precision f32
  ov-int8    OpenVINO on the shipped int8 graph as it is
  ov-bf16    OpenVINO on the float graph, inference precision bf16 (where the CPU has it)
Fairness: every worker pins its runtime to the same thread count (the cores of the
process's affinity mask), and every process (workers and daemon) runs with the daemon's
glibc malloc settings. Each worker times its first request, runs WARM_UP more untimed
(none at 24 MP and up), then times REPEATS runs; the paths run in ROUNDS interleaved
rounds so background load hits all alike. Outputs of every path are compared with
TensorFlow float32 (our engine with STYLIZE_BACKEND=tensorflow) at sizes up to 2048^2.
Baselines that need more than about 12 GB (all but ov-bf16 above 24 MP) are not run
above 24 MP on a machine with less than 48 GB. Results: table on stdout, JSON in
bench/results/benchmark.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stylize.engine.stroke_scale import MIN_STROKE_SCALE  # free of TensorFlow

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "daemon" / "stylize" / "samples"
STYLE = SAMPLES / "styles" / "starry_night.jpg"
RESULTS = REPO / "bench" / "results"
GFLOP_PER_MEGAPIXEL = 25.1  # multiply-adds x 2 of the transfer network, per output pixel
COMPARE_UP_TO = 2048 * 2048  # pixels: outputs compared with TensorFlow float32 up to here
HEAVY_ABOVE = 24_000_000  # pixels: above this, only paths that fit in memory run


def peak_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def threads() -> int:
    return len(os.sched_getaffinity(0))


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height or width)


def content_rgb(width: int, height: int):
    import numpy as np
    from PIL import Image

    photo = Image.open(SAMPLES / "astronaut.jpg").convert("RGB")
    return np.asarray(photo.resize((width, height), Image.Resampling.LANCZOS))


def style_input():
    import numpy as np
    from PIL import Image

    image = Image.open(STYLE).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((256, 256), Image.Resampling.LANCZOS)
    return (np.asarray(image, np.float32) / 255.0)[None]


def timed(run, repeats: int, warm_ups: int, output: str) -> dict:
    import numpy as np

    started = time.perf_counter()
    result = run()
    first = time.perf_counter() - started
    for _ in range(warm_ups):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    if output:
        np.save(output, result)
    return {"first": first, "times": times, "peak_rss_mb": peak_rss_mb(), "threads": threads()}


# -- workers (each runs in its own process) ---------------------------------------------


def full_resolution():
    """Engine options that run the network at the image's own size, as the other paths do
    (the default stroke scale would run it at 1024 px and upsample: engine/stroke_scale.py)."""
    from stylize.engine.style_engine import StylizeOptions

    return StylizeOptions(stroke_scale=MIN_STROKE_SCALE)


def worker_engine(width: int, height: int, args: argparse.Namespace) -> dict:
    from stylize.engine import images
    from stylize.engine.style_engine import StyleEngine

    engine = StyleEngine()
    engine.warm_up()
    vector = engine.style_vector(images.decode(STYLE.read_bytes(), images.ImageLimits(), "style"))
    content = images.Pixels(content_rgb(width, height), images.PixelMode.RGB)
    result = timed(
        lambda: engine.stylize(content, vector, full_resolution()).array,
        args.repeats,
        args.warm_ups,
        args.output,
    )
    return {**result, "backend": engine.backend.name}


def worker_grpc(width: int, height: int, args: argparse.Namespace) -> dict:
    import numpy as np
    from stylize.client import library as client
    from stylize.v1 import stylize_pb2 as pb

    content = client.RawImage(width, height, "RGB8", content_rgb(width, height).tobytes())
    style = client.encoded_style(STYLE.read_bytes())
    options = pb.StylizeOptions(stroke_scale=MIN_STROKE_SCALE)
    with client.StylizeClient(args.address) as daemon:

        def run():
            image = daemon.stylize(content, [style], options=options).image
            return np.frombuffer(image.data, np.uint8).reshape(height, width, 3)

        return timed(run, args.repeats, args.warm_ups, args.output)


def _onnx_models():
    import onnx
    from stylize.models.onnx_graph import with_dynamic_dims, without_activation_quantization
    from stylize.models.provenance import model_file

    predictor = without_activation_quantization(onnx.load(str(model_file("style_predictor").path)))
    transformer = with_dynamic_dims(onnx.load(str(model_file("transformer").path)))
    return predictor, transformer, without_activation_quantization(transformer)


def _ort_run(model, threads_: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads_
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [i.name for i in session.get_inputs()]
    return lambda *arrays: session.run(None, dict(zip(names, arrays, strict=True)))[0]


def _ov_run(model, precision: str, threads_: int):
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(model.SerializeToString(), b""),
        "CPU",
        {
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads_,
        },
    )
    request = compiled.create_infer_request()
    return lambda *arrays: request.infer(list(arrays)).to_tuple()[0]


def _runtime_worker(width: int, height: int, args: argparse.Namespace, make) -> dict:
    import numpy as np

    predictor_model, int8_model, float_model = _onnx_models()
    predict = _ort_run(predictor_model, threads())  # float graph: the vector all paths use
    vector = predict(style_input()).reshape(1, 1, 1, 100)  # the transformer's style input
    transform = make(int8_model, float_model, threads())
    rgb = content_rgb(width, height)

    def run():
        batch = (rgb.astype(np.float32) / 255.0)[None]
        out = transform(batch, vector)[0]
        return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)

    return timed(run, args.repeats, args.warm_ups, args.output)


RUNTIMES = {
    "ort-int8": lambda q, f, n: _ort_run(q, n),
    "ort-float": lambda q, f, n: _ort_run(f, n),
    "ov-f32": lambda q, f, n: _ov_run(f, "f32", n),
    "ov-int8": lambda q, f, n: _ov_run(q, "f32", n),
    "ov-bf16": lambda q, f, n: _ov_run(f, "bf16", n),
}
PATHS = ["engine", "grpc", *RUNTIMES]


def run_worker_in_process(name: str, width: int, height: int, args: argparse.Namespace) -> dict:
    if name == "engine":
        return worker_engine(width, height, args)
    if name == "grpc":
        return worker_grpc(width, height, args)
    return _runtime_worker(width, height, args, RUNTIMES[name])


# -- orchestration ------------------------------------------------------------------------


def run_worker(name: str, size: str, repeats: int, warm_ups: int, **extra: str) -> dict:
    arguments = ["--worker", name, "--sizes", size]
    arguments += ["--repeats", str(repeats), "--warm-ups", str(warm_ups)]
    for key, value in extra.items():
        arguments += [f"--{key}", value]
    return run_script_worker(__file__, arguments)


def run_script_worker(script: str, arguments: list[str]) -> dict:
    """Run a bench script's worker in a fresh process; its last stdout line is JSON."""
    command = [sys.executable, script, *arguments]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or ["killed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_daemon(log: Path) -> tuple[subprocess.Popen, str, float]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import start_daemon as start  # the tests' helper: --port 0, waits for SERVING

    started = time.perf_counter()
    daemon = start(log, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    return daemon.process, daemon.address, time.perf_counter() - started


def cpu_description() -> dict:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in info.splitlines() if "model name" in ln), ""
    )
    flags = next(
        (ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), []
    )
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")
    return {
        "model": model or platform.processor(),
        "threads": threads(),
        "flags": [f for f in wanted if f in flags],
        "memory_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
    }


def matmul_peaks() -> dict:
    """Achievable GFLOP/s of a large matrix product: numpy (f32) and OpenVINO (f32, bf16)."""
    import numpy as np

    n = 2048
    a = np.random.default_rng(0).random((n, n), np.float32)
    best = min(_seconds(lambda: a @ a) for _ in range(3))
    peaks = {"numpy-f32": 2 * n**3 / best / 1e9}
    try:
        import openvino as ov
        import openvino.opset13 as ops

        x = ops.parameter([n, n], ov.Type.f32)
        model = ov.Model([ops.matmul(x, ops.constant(a), False, False)], [x])
        for precision in ("f32", "bf16"):
            compiled = ov.Core().compile_model(
                model, "CPU", {"INFERENCE_PRECISION_HINT": precision}
            )
            request = compiled.create_infer_request()
            request.infer([a])
            best = min(_seconds(lambda r=request: r.infer([a])) for _ in range(5))
            peaks[f"openvino-{precision}"] = 2 * n**3 / best / 1e9
    except Exception as error:  # recorded, not fatal
        peaks["openvino-error"] = str(error)  # type: ignore[assignment]
    return peaks


def _seconds(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def rounds_for(pixels: int, args: argparse.Namespace) -> tuple[int, int, int]:
    """(rounds, timed repeats, warm-ups) for a size: fewer for the big ones."""
    if pixels <= 1100 * 1100:
        return args.rounds, args.repeats, 2
    if pixels <= 4200 * 4200 // 4:
        return args.rounds, max(1, args.repeats // 2), 1
    if pixels <= HEAVY_ABOVE:
        return max(1, args.rounds - 1), 1, 1
    return max(1, args.rounds - 1), 1, 0


def compare(outputs: dict[str, str], reference: str) -> dict:
    import numpy as np

    expected = np.load(reference).astype(np.int16)
    report = {}
    for name, path in outputs.items():
        if Path(path).exists():
            difference = np.abs(np.load(path).astype(np.int16) - expected)
            report[name] = {
                "mean": float(difference.mean()),
                "p99": float(np.percentile(difference, 99)),
                "max": int(difference.max()),
            }
    return report


def bench_size(size: str, args: argparse.Namespace, scratch: Path, heavy_ok: bool) -> dict:
    width, height = parse_size(size)
    pixels = width * height
    rounds, repeats, warm_ups = rounds_for(pixels, args)
    paths = [
        p
        for p in args.paths
        if heavy_ok or pixels <= HEAVY_ABOVE or p in ("engine", "grpc", "ov-bf16")
    ]
    merged: dict[str, dict] = {
        p: {"times": [], "firsts": [], "rss": [], "errors": []} for p in paths
    }
    daemon_stats: dict[str, list[float]] = {"ready_s": [], "peak_rss_mb": []}
    outputs: dict[str, str] = {}
    for round_ in range(rounds):
        for path in paths:
            output = str(scratch / f"{size}-{path}.npy") if pixels <= COMPARE_UP_TO else ""
            extra = {"output": output} if output and round_ == 0 else {}
            if path == "grpc":
                daemon, address, ready = start_daemon(scratch / f"daemon-{size}-{round_}.log")
                try:
                    result = run_worker(path, size, repeats, warm_ups, address=address, **extra)
                    daemon_stats["peak_rss_mb"].append(peak_rss_mb(daemon.pid))
                finally:
                    daemon.terminate()
                    daemon.wait(timeout=60)
                daemon_stats["ready_s"].append(ready)
            else:
                result = run_worker(path, size, repeats, warm_ups, **extra)
            if "error" in result:
                merged[path]["errors"].append(result["error"])
                continue
            if extra:
                outputs[path] = output
            merged[path]["times"] += result["times"]
            merged[path]["firsts"].append(result["first"])
            merged[path]["rss"].append(result["peak_rss_mb"])
            merged[path]["threads"] = result["threads"]
            merged[path]["backend"] = result.get("backend", "")
    rows = {p: summarise(merged[p], pixels) for p in paths}
    report = {
        "size": f"{width}x{height}",
        "rounds": rounds,
        "repeats": repeats,
        "warm_ups": warm_ups,
        "rows": rows,
        "daemon_start_to_serving_s": statistics.median(daemon_stats["ready_s"] or [float("nan")]),
        "daemon_peak_rss_mb": max(daemon_stats["peak_rss_mb"] or [float("nan")]),
    }
    if outputs:
        reference = str(scratch / f"{size}-tensorflow.npy")
        os.environ["STYLIZE_BACKEND"] = "tensorflow"
        try:
            run_worker("engine", size, 0, 0, output=reference)
        finally:
            del os.environ["STYLIZE_BACKEND"]
        report["difference_to_tensorflow_f32"] = compare(outputs, reference)
    return report


def summarise(merged: dict, pixels: int) -> dict:
    if not merged["times"]:
        return {"error": merged["errors"][:1]}
    median = statistics.median(merged["times"])
    return {
        "median_s": median,
        "min_s": min(merged["times"]),
        "s_per_mp": median / (pixels / 1e6),
        "gflops": GFLOP_PER_MEGAPIXEL * pixels / 1e6 / median,
        "first_s": statistics.median(merged["firsts"]),
        "peak_rss_mb": max(merged["rss"]),
        "runs": len(merged["times"]),
        "threads": merged.get("threads"),
        "backend": merged.get("backend", ""),
    }


def print_tables(report: dict) -> None:
    cpu, peaks = report["cpu"], report["matmul_peak_gflops"]
    print(f"CPU: {cpu['model']}, {cpu['threads']} threads, flags {' '.join(cpu['flags'])}")
    print(
        "matmul peak GFLOP/s: "
        + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items() if isinstance(v, float))
    )
    paths = report["paths"]
    print("\n| size | " + " | ".join(paths) + " | grpc / best OpenVINO |")
    print("|---" * (len(paths) + 2) + "|")
    for size in report["sizes"]:
        rows = size["rows"]
        cells = []
        for path in paths:
            row = rows.get(path)
            if row is None:
                cells.append("not run")
            elif "error" in row:
                cells.append("fails")
            else:
                cells.append(_time(row["median_s"]) + f" ({row['s_per_mp']:.3f} s/MP)")
        best = min(
            (
                rows[p]["median_s"]
                for p in ("ov-f32", "ov-int8", "ov-bf16")
                if "median_s" in rows.get(p, {})
            ),
            default=float("nan"),
        )
        ratio = rows.get("grpc", {}).get("median_s", float("nan")) / best
        print(f"| {size['size']} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    print("\n| size | path | first request | peak RSS | GFLOP/s | runs | threads |")
    print("|---|---|---|---|---|---|---|")
    for size in report["sizes"]:
        for path, row in size["rows"].items():
            if "median_s" in row:
                cells = [_time(row["first_s"]), f"{row['peak_rss_mb']:.0f} MB"]
                cells += [f"{row['gflops']:.0f}", str(row["runs"]), str(row["threads"])]
                print(f"| {size['size']} | {path} | " + " | ".join(cells) + " |")
        ready, rss = size["daemon_start_to_serving_s"], size["daemon_peak_rss_mb"]
        print(f"| {size['size']} | daemon | start to SERVING {ready:.1f} s | {rss:.0f} MB | | | |")
    print("\n| size | path | mean abs diff | p99 | max | (levels of 255, against TensorFlow f32) |")
    print("|---|---|---|---|---|---|")
    for size in report["sizes"]:
        for path, d in size.get("difference_to_tensorflow_f32", {}).items():
            print(f"| {size['size']} | {path} | {d['mean']:.2f} | {d['p99']:.0f} | {d['max']} | |")


def _time(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 2 else f"{seconds:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", nargs="+", default=["512", "1024", "2048", "4000x3000", "6000x4000", "8192"]
    )
    parser.add_argument("--paths", nargs="+", default=PATHS, choices=PATHS)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per path per round")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds (fewer for big sizes)"
    )
    parser.add_argument(
        "--results", default="benchmark.json", help="file name under bench/results/"
    )
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--warm-ups", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--address", default="", help=argparse.SUPPRESS)
    parser.add_argument("--output", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        from stylize.server.malloc_tuning import tune_malloc

        tune_malloc()  # the daemon's allocator settings, for every path alike
        width, height = parse_size(args.sizes[0])
        if args.repeats == 0:  # reference output only
            args.repeats, args.warm_ups = 0, 0
        print(json.dumps(run_worker_in_process(args.worker, width, height, args)))
        return 0

    RESULTS.mkdir(parents=True, exist_ok=True)
    heavy_ok = cpu_description()["memory_gb"] >= 48
    report: dict = {
        "cpu": cpu_description(),
        "matmul_peak_gflops": matmul_peaks(),
        "paths": args.paths,
    }
    report["started"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    report["sizes"] = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            report["sizes"].append(bench_size(size, args, Path(scratch), heavy_ok))
            (RESULTS / args.results).write_text(json.dumps(report, indent=2) + "\n")
            print(f"done {size}", file=sys.stderr, flush=True)
    print_tables(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
