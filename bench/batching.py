"""Would batching concurrent small requests raise throughput? N images in one call vs N calls.

    .venv/bin/python bench/batching.py [--batch 8] [--sizes 64 128 256] [--repeats 7]

"single": the engine's own path, the transfer network's three stages on one image at
a time (as the daemon runs a job). "fused": one image at a time through the batched
function below (one tf.function call instead of three, moments instead of the fused
norm), to separate per-call overhead from batching. "batched": the same layers and
weights in one tf.function over a batch of N images of one size, each with its own
style vector, instance norm from per-image moments (the engine's fused batch-of-one
trick does not apply to a batch). All run in this process after a warm-up,
interleaved; the table gives the median of REPEATS runs of N images, and checks that
the outputs agree. Style vectors are precomputed: only the transfer network is
measured, the part a batch would share.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    from stylize.server.malloc_tuning import tune_malloc

    tune_malloc()  # the daemon's allocator settings
    import numpy as np
    import tensorflow as tf
    from stylize.engine.style_engine import StyleEngine
    from stylize.engine.transformer_network import STYLE_VECTOR_SIZE, _conv, _upsample2

    engine = StyleEngine()
    net = engine._networks.transformer()  # the engine's network: same weights, same layers

    def instance_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        return net._normalize(x, mean, variance, gamma, beta)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.float32),
            tf.TensorSpec([None, STYLE_VECTOR_SIZE], tf.float32),
        ]
    )
    def batched(content: tf.Tensor, style: tf.Tensor) -> tf.Tensor:
        x = content
        for conv in net._contract:
            x = tf.nn.relu(_conv(x, conv))
        norms = net._norm_params(style)
        for i, (conv1, conv2) in enumerate(net._residual):
            h = tf.nn.relu(instance_norm(_conv(x, conv1), *norms[2 * i]))
            x = x + instance_norm(_conv(h, conv2), *norms[2 * i + 1])
        for conv, (gamma, beta) in zip(net._expand[:2], norms[10:12], strict=True):
            x = tf.nn.relu(instance_norm(_conv(_upsample2(x), conv), gamma, beta))
        return tf.sigmoid(instance_norm(_conv(x, net._expand[2]), *norms[12]))

    def single(image: np.ndarray, style: np.ndarray) -> np.ndarray:
        x = net.contract(tf.constant(image[None]))
        x = net.residual(x, tf.constant(style[None]))
        return net.expand(x, tf.constant(style[None])).numpy()[0]

    rng = np.random.default_rng(0)
    rows = []
    for size in args.sizes:
        images = rng.random((args.batch, size, size, 3), np.float32)
        styles = rng.normal(0, 1, (args.batch, STYLE_VECTOR_SIZE)).astype(np.float32)
        for _ in range(2):  # trace and warm both paths at this size
            one_by_one = np.stack([single(i, s) for i, s in zip(images, styles, strict=True)])
            together = batched(tf.constant(images), tf.constant(styles)).numpy()
        difference = float(np.abs(one_by_one - together).max())
        timings: dict[str, list[float]] = {"single": [], "fused": [], "batched": []}
        for _ in range(args.repeats):  # interleaved, so background load hits both alike
            started = time.perf_counter()
            for image, style in zip(images, styles, strict=True):
                single(image, style)
            timings["single"].append(time.perf_counter() - started)
            started = time.perf_counter()
            for image, style in zip(images, styles, strict=True):
                batched(tf.constant(image[None]), tf.constant(style[None])).numpy()
            timings["fused"].append(time.perf_counter() - started)
            started = time.perf_counter()
            batched(tf.constant(images), tf.constant(styles)).numpy()
            timings["batched"].append(time.perf_counter() - started)
        single_ms = statistics.median(timings["single"]) * 1000
        batched_ms = statistics.median(timings["batched"]) * 1000
        fused_ms = statistics.median(timings["fused"]) * 1000
        rows.append(
            {
                "size": size,
                "batch": args.batch,
                "single_ms": round(single_ms, 1),
                "fused_single_ms": round(fused_ms, 1),
                "batched_ms": round(batched_ms, 1),
                "speedup": round(single_ms / batched_ms, 2),
                "max_abs_difference": difference,
            }
        )
        print(
            f"{size}x{size}, {args.batch} images: {args.batch} single calls {single_ms:.1f} ms, "
            f"{args.batch} single calls in one tf.function {fused_ms:.1f} ms, "
            f"one batch {batched_ms:.1f} ms, speedup x{single_ms / batched_ms:.2f}, "
            f"max |diff| {difference:.1e}",
            flush=True,
        )
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "batching.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
