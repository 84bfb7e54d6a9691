"""The whole-image graphs in OpenVINO, stage by stage: time, and where it goes.

    .venv/bin/python bench/graph_profile.py [--sizes 1024 2048] [--rounds 7] [--profile]
        [--against CHECKOUT]

Compiles the fast method's three whole-image stages (``contract_pixels``, ``residual``,
``expand_pixels``) as the daemon's OpenVINO backend does (its precision, 2 threads,
LATENCY, channels-first layers between stages in the storage dtype) and runs the bundled
astronaut photo through them at each size (the network at full resolution), ROUNDS
times. Prints the median wall seconds of each stage, seconds per megapixel, and the
process CPU seconds per megapixel divided by the threads (what the wall time would be
with the cores free: the steadier figure on a shared machine).

``--against CHECKOUT``: also the graphs of another checkout of this repository (e.g. a
``git worktree`` of an earlier commit), built from the same weights in the same process,
the two alternating round by round, with the mean difference of their outputs;
``--profile``: OpenVINO's per-node counters of this checkout's graphs, summed by layer
type and kernel (BENCHMARKS.md "channels first").
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

# bench/ is on sys.path when run as a script
from benchmark import content_rgb, parse_size

STAGES = ("contract_pixels", "residual", "expand_pixels")


def _network_module(checkout: Path) -> ModuleType:
    """``engine/transformer_network.py`` of ``checkout``, loaded under its own name."""
    path = checkout / "daemon/stylize/engine/transformer_network.py"
    spec = importlib.util.spec_from_file_location(f"network_{abs(hash(checkout))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Pipeline:
    """One checkout's three stages, compiled; ``run`` returns (pixels, seconds per stage)."""

    def __init__(self, module: ModuleType, backend: Any, profile: bool) -> None:
        from stylize.models.onnx_weights import read_weights
        from stylize.models.provenance import model_file

        network = module.TransformerNetwork(read_weights(model_file("transformer").path))
        self.requests = [
            self._compile(backend, getattr(network, name), profile).create_infer_request()
            for name in STAGES
        ]

    @staticmethod
    def _compile(backend: Any, function: Any, profile: bool) -> Any:
        model = backend._retyped(backend._ov.convert_model(function))
        config = {
            "INFERENCE_PRECISION_HINT": backend.precision,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": backend.threads,
            "PERF_COUNT": profile,
        }
        return backend._core.compile_model(model, "CPU", config)

    def run(self, image: np.ndarray, style: np.ndarray) -> tuple[np.ndarray, list[float]]:
        """Each stage's output goes to the next as OpenVINO's own tensor (typed, no copy)."""
        x: Any = image
        seconds = []
        for index, request in enumerate(self.requests):
            started = time.perf_counter()
            request.infer([x] if index == 0 else [x, style])
            x = request.get_output_tensor(0)
            seconds.append(time.perf_counter() - started)
        return x.data.copy(), seconds

    def profile(self) -> None:
        for name, request in zip(STAGES, self.requests, strict=True):
            kinds: collections.Counter[tuple[str, str]] = collections.Counter()
            for node in request.get_profiling_info():
                kinds[(node.node_type, node.exec_type)] += node.real_time.total_seconds() * 1e3
            total = sum(kinds.values())
            print(f"  {name}: {total:.1f} ms in the last run")
            for (kind, kernel), ms in kinds.most_common(8):
                print(f"    {kind:16s} {kernel:24s} {ms:7.1f} ms {100 * ms / total:5.1f} %")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["1024", "2048"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--against", type=Path, help="another checkout of this repository")
    args = parser.parse_args()

    from stylize.engine.backends import OpenVinoBackend, cpu_threads, openvino_precision
    from stylize.server.malloc_tuning import tune_malloc

    tune_malloc()
    backend = OpenVinoBackend(openvino_precision()[0], cpu_threads(), "bench", cache=None)
    here = Path(__file__).resolve().parents[1]
    pipelines = {"this checkout": Pipeline(_network_module(here), backend, args.profile)}
    if args.against is not None:
        pipelines[str(args.against)] = Pipeline(_network_module(args.against), backend, False)
    style = (np.random.default_rng(0).standard_normal((1, 100)) * 0.3).astype(np.float32)
    print(f"backend {backend.name}, {backend.threads} threads")
    for size in args.sizes:
        width, height = parse_size(size)
        image = content_rgb(width, height)[None]
        megapixels = width * height / 1e6
        outputs = {name: p.run(image, style)[0] for name, p in pipelines.items()}  # compile
        timings: dict[str, list[list[float]]] = {name: [] for name in pipelines}
        for _ in range(args.rounds):
            for name, pipeline in pipelines.items():
                cpu = time.process_time()
                seconds = pipeline.run(image, style)[1]
                timings[name].append([*seconds, time.process_time() - cpu])
        for name, rows in timings.items():
            stages = [statistics.median(row[i] for row in rows) for i in range(len(STAGES))]
            cpu = statistics.median(row[-1] for row in rows)
            print(
                f"{size} {name}: stages "
                + " / ".join(f"{s:.3f}" for s in stages)
                + f" s, {sum(stages) / megapixels:.4f} s/MP wall,"
                f" {cpu / backend.threads / megapixels:.4f} s/MP CPU/threads"
            )
        if len(outputs) == 2:
            first, second = (o.astype(np.float64) for o in outputs.values())
            print(f"{size} mean |difference| {np.abs(first - second).mean():.3f} levels")
        if args.profile:
            pipelines["this checkout"].profile()
    return 0


if __name__ == "__main__":
    sys.exit(main())
