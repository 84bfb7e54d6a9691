"""The style predictor (256 x 256 style image -> 100-d vector): our engine against the
shipped predictor in onnxruntime and OpenVINO, side by side, in interleaved rounds.

    .venv/bin/python bench/style_predictor.py [--rounds 5] [--repeats 30]

Every path runs in its own process, pinned to the same thread count, with the daemon's
malloc settings, on the same input (the bundled Starry Night, centre crop, 256 x 256,
float32 in [0, 1]), and times the network call alone (median of the repeats after
warm-ups; the first call is reported too). Paths:

- engine: our predictor on the backend the daemon picks (OpenVINO, float32: in bf16 its
  vector drifts); engine-tensorflow: the same graph in TensorFlow (the reference);
- ort-int8 / ov-int8: the shipped ONNX file as it is (int8 activations);
- ort-float / ov-f32 / ov-bf16: its float graph (activation quantization removed).

Each vector is compared with TensorFlow float32's: max |difference| and the relative
L2 distance, and by what it does to a picture: the bundled astronaut at 1024 x 1024
stylized (the engine's transfer network, full resolution) with that vector and with
TensorFlow's, mean and 99th percentile of |difference| in levels of 255. Results land
in bench/results/style-predictor.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

# bench/ is on sys.path when run as a script
from benchmark import (
    RESULTS,
    _onnx_models,
    _ort_run,
    _ov_run,
    cpu_description,
    run_script_worker,
    style_input,
    threads,
    timed,
)

PATHS = ["engine", "engine-tensorflow", "ort-int8", "ort-float", "ov-f32", "ov-int8", "ov-bf16"]


def _runtime(name: str):
    import onnx
    from stylize.models.provenance import model_file

    shipped = onnx.load(str(model_file("style_predictor").path))
    floating = _onnx_models()[0]
    threads_ = threads()
    makers = {
        "ort-int8": lambda: _ort_run(shipped, threads_),
        "ort-float": lambda: _ort_run(floating, threads_),
        "ov-f32": lambda: _ov_run(floating, "f32", threads_),
        "ov-int8": lambda: _ov_run(shipped, "f32", threads_),
        "ov-bf16": lambda: _ov_run(floating, "bf16", threads_),
    }
    return makers[name]()


def _engine(name: str):
    if name == "engine-tensorflow":
        os.environ["STYLIZE_BACKEND"] = "tensorflow"
    from stylize.engine.style_engine import StyleEngine

    engine = StyleEngine()
    function = engine._predictor.__call__
    return lambda style: engine.backend.run(function, style)[0]


def worker(name: str, repeats: int, warm_ups: int) -> dict:
    import numpy as np
    from stylize.server.malloc_tuning import tune_malloc

    tune_malloc()
    predict = _engine(name) if name.startswith("engine") else _runtime(name)
    style = style_input()
    last: dict[str, list[float]] = {}

    def run() -> None:
        last["vector"] = np.asarray(predict(style), np.float32).reshape(-1).tolist()

    return {**timed(run, repeats, warm_ups, ""), **last}


def run_worker(name: str, repeats: int, warm_ups: int) -> dict:
    arguments = ["--worker", name, "--repeats", str(repeats), "--warm-ups", str(warm_ups)]
    return run_script_worker(__file__, arguments)


def picture_effects(vectors: dict[str, list[float]], reference: list[float]) -> dict:
    """Mean and p99 |difference| (levels of 255) each vector makes to a stylized photo."""
    import numpy as np
    from benchmark import content_rgb, full_resolution
    from stylize.engine import images
    from stylize.engine.style_engine import StyleEngine

    engine = StyleEngine()
    photo = images.Pixels(content_rgb(1024, 1024), images.PixelMode.RGB)

    def stylized(vector: list[float]) -> np.ndarray:
        result = engine.stylize(photo, np.asarray(vector, np.float32), full_resolution())
        return result.array.astype(np.int16)

    expected = stylized(reference)
    effects = {}
    for name, vector in vectors.items():
        difference = np.abs(stylized(vector) - expected)
        effects[name] = {
            "picture_mean": float(difference.mean()),
            "picture_p99": float(np.percentile(difference, 99)),
        }
    return effects


def summarise(runs: dict[str, list[dict]]) -> dict:
    import numpy as np

    reference = np.asarray(runs["engine-tensorflow"][0]["vector"])
    summary = {}
    for name, results in runs.items():
        if any("error" in r for r in results):
            summary[name] = {"error": next(r["error"] for r in results if "error" in r)}
            continue
        times = [t * 1e3 for r in results for t in r["times"]]
        vector = np.asarray(results[0]["vector"])
        summary[name] = {
            "median_ms": statistics.median(times),
            "first_ms": statistics.median(r["first"] * 1e3 for r in results),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "max_abs_diff": float(np.abs(vector - reference).max()),
            "relative_l2": float(np.linalg.norm(vector - reference) / np.linalg.norm(reference)),
        }
    vectors = {n: runs[n][0]["vector"] for n, s in summary.items() if "error" not in s}
    for name, effect in picture_effects(vectors, reference.tolist()).items():
        summary[name].update(effect)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--paths", nargs="+", default=PATHS, choices=PATHS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warm-ups", type=int, default=5)
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats, args.warm_ups)))
        return 0
    paths = list(dict.fromkeys(["engine-tensorflow", *args.paths]))  # the reference first
    runs: dict[str, list[dict]] = {name: [] for name in paths}
    for round_ in range(args.rounds):
        for name in paths:
            runs[name].append(run_worker(name, args.repeats, args.warm_ups))
        print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr)
    report = {"cpu": cpu_description(), "threads": threads(), "paths": summarise(runs)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "style-predictor.json").write_text(json.dumps(report, indent=2) + "\n")
    best = min(
        (s["median_ms"], n)
        for n, s in report["paths"].items()
        if "median_ms" in s and not n.startswith("engine")
    )
    print(
        "| path | median | first call | peak RSS | max abs diff | relative L2 "
        "| picture mean / p99 | vs best |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, s in report["paths"].items():
        if "error" in s:
            print(f"| {name} | fails: {s['error']} | | | | | | |")
            continue
        print(
            f"| {name} | {s['median_ms']:.2f} ms | {s['first_ms']:.0f} ms | "
            f"{s['peak_rss_mb']:.0f} MB | {s['max_abs_diff']:.4f} | {s['relative_l2']:.2e} | "
            f"{s['picture_mean']:.2f} / {s['picture_p99']:.0f} | {s['median_ms'] / best[0]:.2f} |"
        )
    print(f"best runtime: {best[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
