"""``stylize apply --method optimize``: its options, saved intermediates, and Ctrl-C.

The options become a ``stylize.v1.OptimizeOptions`` message, for the daemon and for
``--local`` alike (both build the job from the same setup, server/wire.py).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from stylize.client import apply_plan
from stylize.v1 import stylize_pb2 as pb

INITS = ("content", "noise")
_FLOATS = ("content_weight", "style_weight", "tv_weight", "style_scale", "learning_rate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "optimisation method (--method optimize)",
        "Gatys et al.: iterate on the picture until its VGG19 features match the content "
        "and its textures match the styles. Minutes instead of a second; the best quality.",
    )
    group.add_argument(
        "--method",
        choices=["fast", "optimize"],
        default="fast",
        help="fast: one pass of the feed-forward networks; optimize: the optimisation "
        "method (default %(default)s)",
    )
    group.add_argument("--iterations", type=int, help="iterations over all scales (default 500)")
    group.add_argument(
        "--optimizer",
        choices=["lbfgs", "adam"],
        help="L-BFGS (default; scales above 2 MP are refined by Adam with a step of 1, "
        "L-BFGS's history would not fit) or Adam",
    )
    group.add_argument("--content-weight", type=float, help="content loss weight (default 5)")
    group.add_argument("--style-weight", type=float, help="style loss weight (default 100)")
    group.add_argument(
        "--tv-weight", type=float, help="smoothness (total variation) weight (default 390)"
    )
    group.add_argument(
        "--init",
        metavar="content|noise|FILE",
        help="start from the content (default), white noise, or an image file",
    )
    group.add_argument("--seed", type=int, default=0, help="seed of --init noise (default 0)")
    group.add_argument(
        "--scales",
        metavar="SIDE,SIDE,...",
        help="long sides of the coarse-to-fine scales, e.g. 256,512,1024 (default: halving "
        "the picture's long side down to 256)",
    )
    group.add_argument(
        "--style-scale",
        type=float,
        help="style images' size relative to the picture, (0, 4]: larger paints larger "
        "strokes (default 1)",
    )
    group.add_argument("--learning-rate", type=float, help="Adam's step (default 10)")
    group.add_argument(
        "--max-time",
        type=float,
        metavar="SECONDS",
        help="stop after this long and keep the best picture so far",
    )
    group.add_argument(
        "--save-every",
        type=int,
        metavar="N",
        help="save the picture every N iterations beside the output: OUT_0100.png, ...",
    )


class OptimizeUsageError(ValueError):
    """An optimisation option given without --method optimize, or malformed."""


def options(args: argparse.Namespace) -> pb.OptimizeOptions | None:
    """The OptimizeOptions message for ``--method optimize``, else None."""
    given = [name for name in _optimize_only(args) if getattr(args, name) not in (None, 0)]
    if args.method != "optimize":
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise OptimizeUsageError(f"{flags} need(s) --method optimize")
        return None
    if args.save_every is not None and args.output == apply_plan.STDIO:
        raise OptimizeUsageError("--save-every writes files beside --output, which is -")
    for flag, value in (("--iterations", args.iterations), ("--save-every", args.save_every)):
        if value is not None and value <= 0:
            raise OptimizeUsageError(f"{flag} must be at least 1, got {value}")
    if not 0 <= args.seed < 2**32:
        raise OptimizeUsageError(f"--seed must be in 0..{2**32 - 1}, got {args.seed}")
    if args.max_time is not None and not args.max_time > 0:
        raise OptimizeUsageError(f"--max-time must be more than 0 seconds, got {args.max_time}")
    message = pb.OptimizeOptions(
        iterations=args.iterations or 0,
        seed=args.seed,
        scales=_scales(args.scales),
        preview_every=args.save_every or 0,
        max_seconds=args.max_time or 0.0,
    )
    if args.optimizer:
        message.optimizer = pb.OptimizeOptions.Optimizer.Value(
            f"OPTIMIZER_{args.optimizer.upper()}"
        )
    for name in _FLOATS:
        value = getattr(args, name)
        if value is not None:
            setattr(message, name, value)
    _set_init(message, args.init)
    return message


def _optimize_only(args: argparse.Namespace) -> list[str]:
    return ["iterations", "optimizer", "init", "scales", "max_time", "save_every", "seed"] + [
        name for name in _FLOATS
    ]


def _scales(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        sides = [int(part) for part in text.split(",")]
        if any(not 0 < side < 2**32 for side in sides):
            raise ValueError
        return sides
    except ValueError:
        raise OptimizeUsageError(
            f"--scales takes long sides in pixels separated by commas (256,512), got {text!r}"
        ) from None


def _set_init(message: pb.OptimizeOptions, init: str | None) -> None:
    if init is None or init == "content":
        return
    if init == "noise":
        message.init = pb.OptimizeOptions.INIT_NOISE
        return
    path = Path(init)
    if not path.is_file():
        raise OptimizeUsageError(f"--init {init}: no such file (or use content / noise)")
    message.init = pb.OptimizeOptions.INIT_IMAGE
    message.init_image = path.read_bytes()


def intermediate_path(output: str, iteration: int) -> Path:
    """Where ``--save-every`` saves the picture at ``iteration``: OUT_0100.png beside OUT."""
    path = Path(output)
    return path.with_name(f"{path.stem}_{iteration:04d}.png")


def preview_saver(output: str) -> Callable[[int, bytes], None]:
    def save(iteration: int, png: bytes) -> None:
        target = intermediate_path(output, iteration)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png)

    return save


@contextlib.contextmanager
def finish_on_interrupt(finish: Callable[[], None], enabled: bool) -> Iterator[None]:
    """The first Ctrl-C calls ``finish`` (keep the best picture so far); the second aborts."""
    if not enabled:
        yield
        return
    interrupted = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        print(
            "\nstylize: finishing with the best picture so far (Ctrl-C again to abort)",
            file=sys.stderr,
        )
        finish()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
