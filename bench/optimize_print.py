"""The optimisation method at print size: a whole coarse-to-fine run at SIZE x SIZE.

    .venv/bin/python bench/optimize_print.py --size 2048 [--iterations 300]
    .venv/bin/python bench/optimize_print.py --size 512 --evaluations 5   # one evaluation
    .venv/bin/python bench/optimize_print.py --size 2048 --refine 6   # the finest again
    .venv/bin/python bench/optimize_print.py --report   # the table from the JSON files
    .venv/bin/python bench/optimize_print.py --pictures # and README's picture

Content: the bundled astronaut photo (512 px) resized to SIZE x SIZE; style: the bundled
Starry Night (512 x 320) sized by the engine (style_scale 1: the content's long side).
Default options (content 5, style 100, TV 390, L-BFGS where it fits, bfloat16 on a CPU
with avx512_bf16), the automatic schedule (256 px, doubling up to SIZE; each finer scale
gets half the iterations of the one before). One run per process, so peak RSS (VmHWM)
is the run's; "idle" is the RSS after VGG19 is loaded.

Per scale: iterations, value-and-gradient evaluations, median wall and CPU seconds per
evaluation (the first of a scale, which traces the graph, apart), the loss at its end,
RSS after its targets and the peak RSS so far.
The floor: the convolutions of one evaluation (forward to block5_conv1 and the backward
pass to the image, FLOPs counted from VGG19's layer shapes) at the bf16 matrix peak
measured on this machine class (409 GFLOP/s, issue 19); the ratio is median wall
seconds per evaluation over the floor. The memory estimate is memory.run_bytes for the
run. Results: JSON in bench/results/optimize-print-SIZE.json, the picture in
bench/results/optimize-print/ (not committed); --pictures: docs/images/optimize-print.jpg
from the SIZE run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "daemon" / "stylize" / "samples"
RESULTS = REPO / "bench" / "results"
PEAK_FLOPS = 409e9  # bf16 matrix peak of the 2-core Zen 4 VM (issue 19)
# VGG19 to block5_conv1: (input channels, output channels, poolings before) per 3x3 conv.
_CONVS = [(3, 64, 0), (64, 64, 0), (64, 128, 1), (128, 128, 1), (128, 256, 2)]
_CONVS += [(256, 256, 2)] * 3 + [(256, 512, 3)] + [(512, 512, 3)] * 3 + [(512, 512, 4)]


def evaluation_flops(pixels: int) -> float:
    """Forward and backward (to the image only: the weights are fixed) convolutions."""
    forward = sum(2 * 9 * cin * cout * pixels / 4**pools for cin, cout, pools in _CONVS)
    return 2 * forward


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(size: int, iterations: int) -> dict:
    import numpy as np
    from PIL import Image
    from stylize.engine.images import PixelMode, Pixels
    from stylize.engine.optimization import memory, schedule
    from stylize.engine.optimization.method import OptimizationEngine, OptimizeOptions
    from stylize.engine.optimization.objective import Objective
    from stylize.engine.optimization.optimizers import optimizer_at

    photo = Image.open(SAMPLES / "astronaut.jpg").convert("RGB")
    content = Pixels(
        np.asarray(photo.resize((size, size), Image.Resampling.LANCZOS)), PixelMode.RGB
    )
    style = Pixels(
        np.asarray(Image.open(SAMPLES / "styles/starry_night.jpg").convert("RGB")), PixelMode.RGB
    )
    # Per scale (Objective.evaluate is called once per scale, its targets computed): RSS
    # then, and (wall, cpu, peak RSS so far) at the end of each of its evaluations.
    evaluations: list[list[tuple[float, float, float]]] = []
    rss_after_targets: list[float] = []
    original = Objective.evaluate

    def timed(self, targets, weights):  # type: ignore[no-untyped-def]
        evaluate = original(self, targets, weights)
        mine: list[tuple[float, float, float]] = []
        evaluations.append(mine)
        rss_after_targets.append(_status_mb("VmRSS"))

        def evaluate_and_stamp(image):  # type: ignore[no-untyped-def]
            result = evaluate(image)
            result[1].numpy()
            mine.append((time.perf_counter(), time.process_time(), _status_mb("VmHWM")))
            return result

        return evaluate_and_stamp

    Objective.evaluate = timed  # type: ignore[method-assign]
    engine = OptimizationEngine()
    idle = _status_mb("VmRSS")
    options = OptimizeOptions(iterations=iterations)
    sides = schedule.long_sides(size, size, (), iterations)
    estimate = memory.run_bytes(
        (size, size), [(style.width, style.height)], options.optimizer, sides,
        precision=engine.vgg.precision,
    )  # fmt: skip
    steps: list[dict] = []

    def progress(event) -> None:  # type: ignore[no-untyped-def]
        steps.append(
            {
                "iteration": event.iteration,
                "scale": event.scale_index,
                "total": event.losses.total,
            }
        )

    start_wall, start_cpu = time.perf_counter(), time.process_time()
    result = engine.run(content, [(style, 1.0)], options, progress)
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    scales = []
    end = start_wall
    for index, side in enumerate(sides[: len(evaluations)]):
        mine, stamps = [step for step in steps if step["scale"] == index], evaluations[index]
        walls = [b[0] - a[0] for a, b in itertools.pairwise(stamps)]
        cpus = [b[1] - a[1] for a, b in itertools.pairwise(stamps)]
        floor = evaluation_flops(side * side) / PEAK_FLOPS
        scales.append(
            {
                "side": side,
                "optimizer": optimizer_at(options.optimizer, side * side),
                "iterations": len(mine),
                "evaluations": len(stamps),
                "first_evaluation_s": stamps[0][0] - end,  # targets and the trace included
                "wall_s_per_evaluation": statistics.median(walls) if walls else None,
                "cpu_s_per_evaluation": statistics.median(cpus) if cpus else None,
                "floor_s": floor,
                "ratio_to_floor": statistics.median(walls) / floor if walls else None,
                "loss_start": mine[0]["total"],
                "loss_end": mine[-1]["total"],
                "wall_s": stamps[-1][0] - end,
                "rss_after_targets_mb": rss_after_targets[index],
                "peak_rss_so_far_mb": stamps[-1][2],  # VmHWM after its last evaluation
            }
        )
        end = stamps[-1][0]
    out = RESULTS / "optimize-print"
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(result.array).save(out / f"astronaut-starry-{size}.png")
    return {
        "size": size,
        "iterations": iterations,
        "precision": engine.vgg.precision,
        "wall_s": wall,
        "cpu_s": cpu,
        "idle_rss_mb": idle,
        "peak_rss_mb": _status_mb("VmHWM"),
        "estimate_mb": estimate / 2**20,
        "scales": scales,
        "losses": [step["total"] for step in steps],
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }


def evaluations(size: int, repeats: int) -> dict:
    """One scale's value-and-gradient evaluation (an Adam iteration; L-BFGS makes 1-1.3
    per iteration) timed ``repeats`` times after a first (tracing) one, in one process."""
    import numpy as np
    import tensorflow as tf
    from stylize.engine.optimization.method import OptimizationEngine, OptimizeOptions
    from stylize.engine.optimization.objective import Weights

    engine = OptimizationEngine()
    options = OptimizeOptions()
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    objective = engine.objective(options)
    targets = objective.targets(content, [(content, 1.0)])
    weights = Weights(5.0, 100.0, 390.0, options.style_layers)
    evaluate = objective.evaluate(targets, weights)
    image = tf.constant(content[None].astype(np.float32))
    evaluate(image)[1].numpy()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        evaluate(image)[1].numpy()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    floor = evaluation_flops(size * size) / PEAK_FLOPS
    return {
        "size": size,
        "precision": engine.vgg.precision,
        "wall_s": walls,
        "cpu_s": cpus,
        "floor_s": floor,
        "ratio_to_floor_min_wall": min(walls) / floor,
        "ratio_to_floor_median_cpu_over_2": statistics.median(cpus) / 2 / floor,
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }


def refine(size: int, iterations: int) -> dict:
    """The finest scale alone, from the whole run's result: default options, so Adam with
    the refining step (optimizers.REFINE_LEARNING_RATE) above L-BFGS's limit."""
    import numpy as np
    from PIL import Image
    from stylize.engine.images import PixelMode, Pixels
    from stylize.engine.optimization.method import OptimizationEngine, OptimizeOptions

    def rgb(image: Image.Image) -> Pixels:
        return Pixels(np.asarray(image.convert("RGB")), PixelMode.RGB)

    out = RESULTS / "optimize-print"
    photo = Image.open(SAMPLES / "astronaut.jpg").resize((size, size), Image.Resampling.LANCZOS)
    start = rgb(Image.open(out / f"astronaut-starry-{size}.png"))
    style = rgb(Image.open(SAMPLES / "styles/starry_night.jpg"))
    options = OptimizeOptions(iterations=iterations, scales=(size,), init="image")
    losses: list[tuple[float, float]] = []
    cpu = time.process_time()
    result = OptimizationEngine().run(
        rgb(photo), [(style, 1.0)], options,
        lambda event: losses.append((event.losses.total, time.process_time() - cpu)),
        init_image=start,
    )  # fmt: skip
    Image.fromarray(result.array).save(out / f"astronaut-starry-{size}-refined.png")
    return {"size": size, "iterations": iterations, "loss_and_cpu_s": losses}


def report() -> None:
    for path in sorted(RESULTS.glob("optimize-print-*.json")):
        row = json.loads(path.read_text())
        print(
            f"{row['size']}²: {row['wall_s']:.0f} s wall, {row['cpu_s']:.0f} s CPU, peak "
            f"{row['peak_rss_mb']:.0f} MB (idle {row['idle_rss_mb']:.0f}), estimate "
            f"{row['estimate_mb'] + row['idle_rss_mb']:.0f} MB with idle"
        )
        for scale in row["scales"]:
            print(
                f"  {scale['side']:5} {scale['optimizer']:5} {scale['iterations']:4} it "
                f"{scale['evaluations']:4} ev  {scale['wall_s_per_evaluation'] or 0:7.2f} s/ev "
                f"({scale['cpu_s_per_evaluation'] or 0:.2f} CPU s)  floor {scale['floor_s']:.2f} s"
                f"  x{scale['ratio_to_floor'] or 0:.2f}  loss {scale['loss_start']:.3g} -> "
                f"{scale['loss_end']:.3g}  {scale['wall_s']:.0f} s"
                f"  peak so far {scale.get('peak_rss_so_far_mb', 0):.0f} MB"
            )


def pictures(size: int) -> None:
    """docs/images/optimize-print.jpg: the SIZE px result scaled to 512 px and a 512 x 512
    crop of it at full size (the face); after --refine, the refined one scaled and the
    crops of both."""
    from PIL import Image

    out = RESULTS / "optimize-print"
    results = [out / f"astronaut-starry-{size}.png", out / f"astronaut-starry-{size}-refined.png"]
    images = [Image.open(path) for path in results if path.exists()]
    left, top = size * 5 // 16, size // 8
    panels = [images[-1].resize((512, 512), Image.Resampling.LANCZOS)]
    panels += [image.crop((left, top, left + 512, top + 512)) for image in images]
    sheet = Image.new("RGB", (512 * len(panels) + 8 * (len(panels) - 1), 512), "white")
    for index, panel in enumerate(panels):
        sheet.paste(panel.convert("RGB"), (index * 520, 0))
    sheet.save(REPO / "docs" / "images" / "optimize-print.jpg", quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--pictures", action="store_true")
    parser.add_argument("--evaluations", type=int, default=0, help="time N evaluations only")
    parser.add_argument("--refine", type=int, default=0, help="N more iterations at SIZE")
    args = parser.parse_args()
    from stylize.server.malloc_tuning import tune_malloc

    tune_malloc()  # as the daemon runs (before TensorFlow loads): oneDNN's blocks in malloc
    if args.refine:
        row = refine(args.size, args.refine)
        print(json.dumps(row))
        (RESULTS / f"optimize-refine-{args.size}.json").write_text(json.dumps(row) + "\n")
        return
    if args.evaluations:
        row = evaluations(args.size, args.evaluations)
        print(json.dumps(row))
        path = RESULTS / "optimize-evaluation.json"
        rows = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps([*rows, row], indent=2) + "\n")
        return
    if args.report or args.pictures:
        report()
        if args.pictures:
            pictures(args.size)
        return
    row = run(args.size, args.iterations)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"optimize-print-{args.size}.json").write_text(json.dumps(row, indent=2) + "\n")
    report()


if __name__ == "__main__":
    main()
