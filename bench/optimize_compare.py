"""The optimisation method against the plain TensorFlow-tutorial recipe, side by side.

    .venv/bin/python bench/optimize_compare.py all [--size 512] [--iterations 1000]
    .venv/bin/python bench/optimize_compare.py plain|engine|rss|report ...   # the parts

Content: the bundled astronaut photo, style: the bundled Starry Night, both with a long
side of SIZE (the tutorial's ``max_dim``). Two paths, each in its own process:

(a) ``plain``: the recipe of the common TensorFlow tutorial ("Neural Style Transfer with
    tf.keras and eager execution"): Adam (learning rate 2 in 0..255 pixel units, beta1
    0.99, epsilon 0.1), ITERATIONS iterations from the content image, loss = 1e3 x
    content + 1e-2 x style, content layer ``block5_conv2``, style layers
    ``block1_conv1`` ... ``block5_conv1`` each weighted 1/5, Gram = F^T F / positions,
    every term a mean square, no total variation, pixels clipped after each step. Plain
    Keras (``keras.applications.VGG19`` from our verified weights file) and its own
    loop, float32; the value and gradient run in a ``tf.function`` (the newer tutorial
    does; it only makes (a) faster). Adam is invariant to the tutorial's
    ``preprocess_input`` shift of the pixels, so optimising RGB 0..255 with the
    preprocessing inside the loss is the same iteration as optimising its BGR image.
    (The tutorial's notebook uses learning rate 5; issue 7 asks for 2, as here.)
(b) ``engine``: OptimizationEngine.run with the engine's best settings (L-BFGS, the
    automatic coarse-to-fine schedule, precision "auto" = bfloat16 on this CPU) on
    (a)'s objective, expressed in OptimizeOptions: the same layers and weights, each
    style layer weighted channels^2 / 5 because the engine's Gram also divides by the
    channels. A preview every PREVIEW_EVERY iterations is time-stamped (wall and process
    CPU time) inside the run; after the run every preview is scored with (a)'s loss
    function (float32, full size), outside the timed part.

Both record wall time (``perf_counter``) and process CPU time (``process_time``, all
threads) from the start of the optimisation (after VGG19 and the targets are ready).
``rss`` runs a few iterations of one path at one size in a fresh process for VmHWM.
``report`` writes the loss-against-time plot (docs/images/) and prints the figures.
Results: JSON in bench/results/optimize-compare-*.json, snapshots in
bench/results/optimize-compare/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "daemon" / "stylize" / "samples"
RESULTS = REPO / "bench" / "results"
SNAPSHOTS = RESULTS / "optimize-compare"
IMAGES = REPO / "docs" / "images"
CONTENT, STYLE = SAMPLES / "astronaut.jpg", SAMPLES / "styles" / "starry_night.jpg"

# (a)'s settings, from the tutorial.
LEARNING_RATE, BETA_1, EPSILON = 2.0, 0.99, 0.1
CONTENT_WEIGHT, STYLE_WEIGHT = 1e3, 1e-2
CONTENT_LAYERS = ("block5_conv2",)
STYLE_LAYERS = tuple(f"block{block}_conv1" for block in range(1, 6))
STYLE_CHANNELS = (64, 128, 256, 512, 512)
SNAPSHOT_EVERY = 100  # (a) saves out_0100, out_0200, ... as neural-style does
PREVIEW_EVERY = 5  # (b)'s time-stamped images


def load_rgb(path: Path, long_side: int) -> np.ndarray:
    """uint8 RGB with the long side ``long_side`` (the tutorial's load_img, LANCZOS)."""
    image = Image.open(path).convert("RGB")
    factor = long_side / max(image.size)
    size = (round(image.width * factor), round(image.height * factor))
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PlainRecipe:
    """The tutorial's model, loss and Adam loop, float32; ``loss`` also scores (b)."""

    def __init__(self, content: np.ndarray, style: np.ndarray) -> None:
        import keras
        import tensorflow as tf
        from stylize.models.provenance import model_file

        self.tf = tf
        vgg = keras.applications.VGG19(include_top=False, weights=str(model_file("vgg19").path))
        vgg.trainable = False
        outputs = [vgg.get_layer(name).output for name in STYLE_LAYERS + CONTENT_LAYERS]
        self.model = keras.Model(vgg.input, outputs)
        style_maps = self._features(tf.constant(style[None], tf.float32))
        self.style_targets = [self._gram(f) for f in style_maps[: len(STYLE_LAYERS)]]
        self.content_targets = self._features(tf.constant(content[None], tf.float32))[
            len(STYLE_LAYERS) :
        ]
        self.value_and_gradient = tf.function(self._value_and_gradient)
        self._compiled_loss = tf.function(self._loss)

    def _features(self, image: Any) -> list[Any]:
        """``image``: float32 [1, H, W, 3] RGB in 0..255, preprocessed as the tutorial does."""
        import keras

        return list(self.model(keras.applications.vgg19.preprocess_input(image)))

    def _gram(self, features: Any) -> Any:
        matrix = self.tf.reshape(features, (-1, features.shape[-1]))
        positions = self.tf.cast(self.tf.shape(matrix)[0], self.tf.float32)
        return self.tf.matmul(matrix, matrix, transpose_a=True) / positions

    def _loss(self, image: Any) -> Any:
        tf = self.tf
        maps = self._features(image)
        style = tf.add_n(
            [
                tf.reduce_mean(tf.square(self._gram(f) - g)) / len(STYLE_LAYERS)
                for f, g in zip(maps[: len(STYLE_LAYERS)], self.style_targets, strict=True)
            ]
        )
        content = tf.add_n(
            [
                tf.reduce_mean(tf.square(f - t)) / len(CONTENT_LAYERS)
                for f, t in zip(maps[len(STYLE_LAYERS) :], self.content_targets, strict=True)
            ]
        )
        return CONTENT_WEIGHT * content + STYLE_WEIGHT * style

    def _value_and_gradient(self, image: Any) -> tuple[Any, Any]:
        with self.tf.GradientTape() as tape:
            tape.watch(image)
            loss = self._loss(image)
        return loss, tape.gradient(loss, image)

    def loss(self, rgb: np.ndarray) -> float:
        """(a)'s loss of an RGB image (uint8 or float, 0..255) of the content's size."""
        return float(self._compiled_loss(self.tf.constant(rgb[None], self.tf.float32)))

    def run(
        self, start: np.ndarray, iterations: int, on_step: Callable[[int, float, Any], None]
    ) -> None:
        import keras

        tf = self.tf
        image = tf.Variable(start[None].astype(np.float32))
        adam = keras.optimizers.Adam(learning_rate=LEARNING_RATE, beta_1=BETA_1, epsilon=EPSILON)
        for iteration in range(1, iterations + 1):
            loss, gradient = self.value_and_gradient(tf.convert_to_tensor(image))
            adam.apply_gradients([(gradient, image)])
            image.assign(tf.clip_by_value(image, 0.0, 255.0))
            on_step(iteration, float(loss), image)


class Clock:
    """Wall and process CPU seconds since creation."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def now(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _save(rgb: np.ndarray, name: str) -> None:
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    pixels = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(SNAPSHOTS / name)


def _write(name: str, record: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"optimize-compare-{name}.json"
    path.with_suffix(".tmp").write_text(json.dumps(record, indent=1) + "\n")
    path.with_suffix(".tmp").replace(path)


def run_plain(size: int, iterations: int) -> None:
    """(a): the tutorial's loop; curve written as it goes (a partial run keeps its data)."""
    content, style = load_rgb(CONTENT, size), load_rgb(STYLE, size)
    recipe = PlainRecipe(content, style)
    recipe.value_and_gradient(recipe.tf.constant(content[None], recipe.tf.float32))  # trace
    curve: list[list[float]] = []  # iteration, wall s, cpu s, loss of the image before it
    record = {"path": "plain", "size": size, "iterations": iterations, "curve": curve}
    clock = Clock()

    def on_step(iteration: int, loss: float, image: Any) -> None:
        curve.append([iteration, *clock.now(), loss])
        if iteration % 10 == 0:
            print("plain", *curve[-1], flush=True)
        if iteration % SNAPSHOT_EVERY == 0:
            _save(image.numpy()[0], f"plain_{iteration:04d}.png")
            _write("plain", record)

    recipe.run(content.astype(np.float32), iterations, on_step)
    record["peak_rss_mb"] = _status_mb("VmHWM")
    _write("plain", record)


def engine_options(iterations: int, preview_every: int, scales: tuple[int, ...] = ()) -> Any:
    """(a)'s objective in the engine's terms, with the engine's best optimiser settings."""
    from stylize.engine.optimization.method import OptimizeOptions

    return OptimizeOptions(
        iterations=iterations,
        optimizer="lbfgs",
        content_weight=CONTENT_WEIGHT,
        style_weight=STYLE_WEIGHT,
        tv_weight=0.0,
        content_layers=CONTENT_LAYERS,
        style_layers=tuple(
            (name, channels**2 / len(STYLE_LAYERS))
            for name, channels in zip(STYLE_LAYERS, STYLE_CHANNELS, strict=True)
        ),
        scales=scales,
        preview_every=preview_every,
    )


def run_engine(
    size: int, iterations: int, scales: tuple[int, ...], precision: str, tag: str
) -> None:
    """(b): the engine, previews time-stamped during the run and scored after it."""
    from stylize.engine.images import PixelMode, Pixels
    from stylize.engine.optimization import OptimizationEngine

    content, style = load_rgb(CONTENT, size), load_rgb(STYLE, size)
    engine = OptimizationEngine(precision=precision)
    options = engine_options(iterations, PREVIEW_EVERY, scales)
    stamps: list[list[float]] = []  # iteration, wall s, cpu s, scale index, engine loss
    previews: list[np.ndarray] = []
    clock = Clock()

    def progress(event: Any) -> None:
        stamps.append([event.iteration, *clock.now(), event.scale_index, event.losses.total])
        if event.iteration % 10 == 0:
            print("engine", *stamps[-1], flush=True)
        if event.preview is not None:
            previews.append(event.preview.rgb())

    result = engine.run(
        Pixels(content, PixelMode.RGB), [(Pixels(style, PixelMode.RGB), 1.0)], options, progress
    )
    peak = _status_mb("VmHWM")
    del engine
    recipe = PlainRecipe(content, style)  # scoring: outside the timed part
    curve: list[list[float]] = []
    for preview in [*previews, result.rgb()]:
        index = len(curve)
        iteration = (index + 1) * PREVIEW_EVERY if index < len(previews) else stamps[-1][0]
        stamp = stamps[int(iteration) - 1]
        curve.append([iteration, stamp[1], stamp[2], recipe.loss(preview), stamp[3]])
    for iteration, preview in enumerate(previews, start=1):
        if (iteration * PREVIEW_EVERY) % 50 == 0:
            _save(preview, f"{tag}_{iteration * PREVIEW_EVERY:04d}.png")
    _save(result.rgb(), f"{tag}_final.png")
    record = {
        "path": "engine",
        "size": size,
        "iterations": iterations,
        "precision": precision,
        "scales": list(scales),
        "stamps": stamps,
        "curve": curve,  # iteration, wall s, cpu s, (a)'s loss, scale index
        "peak_rss_mb": peak,
    }
    _write(tag, record)


def run_rss(path: str, size: int, iterations: int) -> None:
    """Peak RSS of a few iterations of one path (the peak is reached in the first)."""
    content, style = load_rgb(CONTENT, size), load_rgb(STYLE, size)
    if path == "plain":
        recipe = PlainRecipe(content, style)
        recipe.run(content.astype(np.float32), iterations, lambda *_: None)
    else:
        from stylize.engine.images import PixelMode, Pixels
        from stylize.engine.optimization import OptimizationEngine

        pixels, styles = Pixels(content, PixelMode.RGB), [(Pixels(style, PixelMode.RGB), 1.0)]
        OptimizationEngine().run(pixels, styles, engine_options(iterations, 0))
    print(json.dumps({"path": path, "size": size, "peak_rss_mb": _status_mb("VmHWM")}))


def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"optimize-compare-{name}.json").read_text())


def _first_below(curve: list[list[float]], loss: float, column: int) -> float | None:
    """The time (column 1 wall, 2 cpu) at which ``curve`` first reaches ``loss``."""
    for row in curve:
        if row[3] <= loss:
            return row[column]
    return None


def _per_scale(stamps: list[list[float]]) -> list[dict[str, float]]:
    """(b)'s seconds per iteration at each scale, from the time stamps (first one left out:
    it includes the targets and the trace of that scale)."""
    scales = []
    for index in sorted({int(row[3]) for row in stamps}):
        rows = [row for row in stamps if row[3] == index]
        count = len(rows) - 1
        scales.append(
            {
                "scale_index": index,
                "iterations": len(rows),
                "wall_s_per_iteration": (rows[-1][1] - rows[0][1]) / count,
                "cpu_s_per_iteration": (rows[-1][2] - rows[0][2]) / count,
            }
        )
    return scales


def report() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plain, engine = _load("plain"), _load("engine")
    plain_curve = [[i, w, c, loss] for i, w, c, loss in plain["curve"]]
    target = min(row[3] for row in plain_curve)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for axis, column, label in (
        (axes[0], 1, "wall time (s)"),
        (axes[1], 2, "process CPU time (s)"),
    ):
        axis.plot(
            [r[column] for r in plain_curve],
            [r[3] for r in plain_curve],
            label="(a) tutorial recipe: Adam, float32",
        )
        axis.plot(
            [r[1 + column - 1] for r in engine["curve"]],
            [r[3] for r in engine["curve"]],
            label="(b) engine: L-BFGS, 256→512 px, bfloat16",
        )
        axis.axhline(target, color="grey", linestyle=":", label="(a)'s final loss")
        axis.set_xlabel(label)
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("(a)'s total loss")
    axes[0].legend()
    figure.suptitle(f"Loss against time at {plain['size']} px (astronaut, Starry Night)")
    figure.tight_layout()
    IMAGES.mkdir(parents=True, exist_ok=True)
    figure.savefig(IMAGES / "optimize-compare-loss.png", dpi=80)
    summary = {}
    for name, record, curve in (("plain", plain, plain_curve), ("engine", engine, engine["curve"])):
        last = curve[-1]
        summary[name] = {
            "iterations": last[0],
            "wall_s": last[1],
            "cpu_s": last[2],
            "wall_s_per_iteration": last[1] / last[0],
            "cpu_s_per_iteration": last[2] / last[0],
            "final_loss": min(r[3] for r in curve),
            "reaches_plain_final_wall_s": _first_below(curve, target, 1),
            "reaches_plain_final_cpu_s": _first_below(curve, target, 2),
            "peak_rss_mb": record.get("peak_rss_mb"),
        }
    summary["engine"]["per_scale"] = _per_scale(engine["stamps"])
    for clock in ("wall", "cpu"):
        reached = summary["engine"][f"reaches_plain_final_{clock}_s"]
        share = None if reached is None else reached / summary["plain"][f"{clock}_s"]
        summary["engine"][f"reaches_plain_final_{clock}_share"] = share
    print(json.dumps(summary, indent=1))
    pictures(plain, engine)


def _tile(record: dict[str, Any], iteration: int, name: str) -> tuple[str, Image.Image]:
    """A snapshot with its caption: the iteration and the process CPU time it took."""
    row = next(r for r in record["curve"] if r[0] >= iteration)
    return f"{iteration} it, {row[2]:.0f} s CPU", Image.open(SNAPSHOTS / name).convert("RGB")


def pictures(plain: dict[str, Any], engine: dict[str, Any]) -> None:
    """README pictures: (b)'s intermediate results, and fast vs both optimisations."""
    sys.path.insert(0, str(REPO / "scripts"))
    from doc_images import contact_sheet
    from stylize.engine import images
    from stylize.engine.style_engine import StyleEngine

    size = plain["size"]
    content = images.Pixels(load_rgb(CONTENT, size), images.PixelMode.RGB)
    steps = range(50, engine["iterations"] + 1, 50)
    sequence = [("photo (start)", content.to_pil())]
    sequence += [_tile(engine, step, f"engine_{step:04d}.png") for step in steps]
    contact_sheet(sequence, 224).save(IMAGES / "optimize-sequence.jpg", quality=85)
    fast = StyleEngine()
    vector = fast.style_vector(images.Pixels(load_rgb(STYLE, size), images.PixelMode.RGB))
    last = plain["curve"][-1][0] // SNAPSHOT_EVERY * SNAPSHOT_EVERY
    plain_label, plain_image = _tile(plain, last, f"plain_{last:04d}.png")
    engine_label, engine_image = _tile(engine, engine["iterations"], "engine_final.png")
    tiles = [
        ("photo", content.to_pil()),
        ("fast method (feed-forward)", fast.stylize(content, vector).to_pil()),
        (f"(a) tutorial Adam, {plain_label}", plain_image),
        (f"(b) engine L-BFGS, {engine_label}", engine_image),
    ]
    contact_sheet(tiles, 320).save(IMAGES / "fast-vs-optimize.jpg", quality=85)


def _subprocess(*args: str) -> str:
    command = [sys.executable, __file__, *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("all", "plain", "engine", "rss", "report"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--engine-iterations", type=int, default=300)
    parser.add_argument("--scales", type=int, nargs="*", default=[])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--path", choices=("plain", "engine"), default="plain")
    parser.add_argument("--tag", default="engine", help="the engine run's result name")
    args = parser.parse_args()
    if args.part == "plain":
        run_plain(args.size, args.iterations)
    elif args.part == "engine":
        run_engine(args.size, args.engine_iterations, tuple(args.scales), args.precision, args.tag)
    elif args.part == "rss":
        run_rss(args.path, args.size, args.iterations)
    elif args.part == "report":
        report()
    else:
        _subprocess("plain", "--size", str(args.size), "--iterations", str(args.iterations))
        _subprocess(
            "engine", "--size", str(args.size), "--engine-iterations", str(args.engine_iterations)
        )
        for path in ("plain", "engine"):
            for size in (512, 1024):
                print(_subprocess("rss", "--path", path, "--size", str(size), "--iterations", "3"))
        report()


if __name__ == "__main__":
    main()
