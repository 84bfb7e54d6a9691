"""The ``stylize`` command: serve, apply, predict-style, styles, info, gimp, service."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stylize import __version__
from stylize.client import (
    apply_plan,
    gimp_install,
    optimize_args,
    service_install,
    user_messages,
    video,
)
from stylize.client import library as client
from stylize.client.library import ClientError, StylizeClient
from stylize.client.progress_bar import ProgressBar
from stylize.engine import stroke_scale
from stylize.jobs.style_library import StyleLibrary

log = logging.getLogger("stylize")

if TYPE_CHECKING:
    from stylize.server.config import ServerConfig

EXIT_RUNTIME = 1  # the command ran and failed (daemon refused, file unreadable, ...)
EXIT_USAGE = 2  # the command line is wrong (argparse uses 2 as well)
ADDRESS_HELP = (
    "daemon host:port, or a gRPC target naming a pool of daemons "
    "(ipv4:HOST:PORT,HOST:PORT or dns:///NAME:PORT; calls are spread round-robin) "
    "(default %(default)s; env STYLIZE_ADDRESS, or STYLIZE_PORT for 127.0.0.1)"
)
_SETTING = "--address HOST:PORT, env STYLIZE_ADDRESS or STYLIZE_PORT; --timeout SECONDS"


class UsageError(Exception):
    """A bad command line that argparse cannot see (e.g. an option's value)."""


# -- argument helpers ----------------------------------------------------------


def _add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    tls = parser.add_argument_group("TLS (a daemon beyond loopback)")
    tls.add_argument(
        "--tls-ca",
        default=os.environ.get("STYLIZE_TLS_CA"),
        metavar="PEM",
        help="CA certificate that signed the daemon's certificate: connect with TLS "
        "(env STYLIZE_TLS_CA)",
    )
    tls.add_argument(
        "--tls-cert",
        default=os.environ.get("STYLIZE_TLS_CERT"),
        metavar="PEM",
        help="this client's certificate, for a daemon that requires one (mTLS; "
        "env STYLIZE_TLS_CERT)",
    )
    tls.add_argument(
        "--tls-key",
        default=os.environ.get("STYLIZE_TLS_KEY"),
        metavar="PEM",
        help="this client's private key, with --tls-cert (env STYLIZE_TLS_KEY)",
    )


def _connect(
    args: argparse.Namespace, timeout: float | None = client.DEFAULT_TIMEOUT
) -> StylizeClient:
    """A client for ``args.address`` with the TLS files the arguments name."""
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key must be given together")

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return StylizeClient(
        args.address,
        root_certificates=read(args.tls_ca),
        private_key=read(args.tls_key),
        certificate_chain=read(args.tls_cert),
        timeout=timeout,
    )


def _add_client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default=client.default_address(), help=ADDRESS_HELP)
    _add_tls_arguments(parser)
    parser.add_argument(
        "--local",
        action="store_true",
        help="run the networks in this process instead of calling a daemon",
    )


def _add_style_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--style-size",
        type=int,
        default=256,
        help="side of the square a style image is resized to (default %(default)s)",
    )
    parser.add_argument(
        "--no-crop",
        action="store_true",
        help="squash the whole style image to a square instead of centre-cropping it",
    )


# -- apply -----------------------------------------------------------------------


def _wire_options(args: argparse.Namespace):  # -> pb.StylizeOptions
    from stylize.v1 import stylize_pb2 as pb

    return pb.StylizeOptions(
        style_preprocess=pb.StylePreprocess(size=args.style_size, no_crop=args.no_crop),
        output_format=pb.OUTPUT_FORMAT_PNG,
        max_side=args.max_side,
        preserve_colors=args.preserve_colors,
        color_match=pb.ColorMatch.Value(f"COLOR_MATCH_{args.color_match.upper()}"),
        stroke_scale=args.stroke_scale,
    )


def _read_content(content: str) -> bytes:
    return sys.stdin.buffer.read() if content == apply_plan.STDIO else Path(content).read_bytes()


Report = Callable[[float, str], None]
SavePreview = Callable[[int, bytes], None]


def _style_sources(specs: Iterable[apply_plan.StyleSpec]) -> list:  # -> list[pb.StyleSource]
    """The ``--style`` sources, each with its ``--mask`` region if it has one."""
    styles = []
    for spec in specs:
        if spec.is_file:
            source = client.file_style(spec.target, spec.weight)
        else:
            source = client.named_style(spec.target, spec.weight)
        if spec.mask is not None:
            client.in_region(source, client.file_mask(spec.mask, "--mask"))
        styles.append(source)
    return styles


def _setup(args: argparse.Namespace, job: apply_plan.ApplyJob):  # -> (pb.StylizeSetup, bytes)
    """The one description of a job, for the daemon and for ``--local`` alike."""
    strength_map = args.strength_map
    return client.stylize_setup(
        _read_content(job.content),
        _style_sources(job.styles),
        strength=args.strength,
        options=_wire_options(args),
        optimize=optimize_args.options(args),
        strength_map=client.file_mask(strength_map, "--strength-map") if strength_map else None,
    )


class _RemoteRunner:
    """Runs jobs through the daemon."""

    def __init__(self, args: argparse.Namespace, daemon: StylizeClient) -> None:
        self.args, self.daemon = args, daemon

    def run(
        self, job: apply_plan.ApplyJob, report: Report, save: SavePreview
    ) -> tuple[bytes, float]:
        setup, data = _setup(self.args, job)
        result = self.daemon.stylize(
            data,
            setup.styles,
            strength=setup.strength if setup.HasField("strength") else 1.0,
            options=setup.options,
            on_progress=lambda p: report(p.fraction, p.message),
            optimize=setup.optimize if setup.HasField("optimize") else None,
            on_preview=lambda p: save(p.iteration, p.png),
            strength_map=setup.strength_map if setup.HasField("strength_map") else None,
        )
        assert result.encoded is not None
        return result.encoded, result.seconds

    def finish(self) -> None:
        self.daemon.finish()


class _LocalRunner:
    """Runs jobs in this process (models loaded once for the whole batch)."""

    def __init__(self, args: argparse.Namespace, bar: ProgressBar) -> None:
        import threading

        from stylize.engine import images
        from stylize.engine.style_cache import StyleVectorCache
        from stylize.engine.style_engine import StyleEngine
        from stylize.jobs.methods import registered_methods
        from stylize.jobs.resources import Engines

        bar.update(0.0, "loading models")
        self.args = args
        self.engines = Engines(
            StyleEngine(),
            StyleLibrary(),
            StyleVectorCache(),
            images.ImageLimits(),
            registered_methods(),
        )
        self._finish = threading.Event()

    def run(
        self, job: apply_plan.ApplyJob, report: Report, save: SavePreview
    ) -> tuple[bytes, float]:
        from stylize.engine import images
        from stylize.jobs.job import EncodedSource
        from stylize.jobs.method import Controls
        from stylize.jobs.progress import Progress
        from stylize.jobs.run import check_job, run_job
        from stylize.server import wire

        setup, data = _setup(self.args, job)
        stylize_job = wire.stylize_job(setup, EncodedSource(data), max_styles=1 << 16)
        engines = self.engines
        check_job(engines, stylize_job)

        def on_progress(progress: Progress) -> None:
            report(progress.fraction, progress.message)
            if progress.preview is not None and progress.step is not None:
                save(progress.step.done, images.encode_png(progress.preview))

        controls = Controls(cancelled=lambda: False, finish=self._finish.is_set)
        result = run_job(engines, stylize_job, on_progress, controls)
        return images.encode_png(result.pixels), result.seconds

    def finish(self) -> None:
        self._finish.set()


def _save(png: bytes, output: str) -> None:
    """Write the PNG as is, or convert it for other extensions (JPEG drops alpha)."""
    if output == apply_plan.STDIO:
        sys.stdout.buffer.write(png)
        sys.stdout.buffer.flush()
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        path.write_bytes(png)
        return
    from PIL import Image

    from stylize.engine import images

    if images.declared_depth(png, "the result").deep:  # 16-bit: .tif keeps it, others are 8-bit
        any_size = images.ImageLimits(max_pixels=1 << 40, max_side=1 << 30)  # the daemon's result
        pixels = images.decode(png, any_size, "the result")
        if path.suffix.lower() in (".tif", ".tiff"):
            path.write_bytes(images.encode_16_bit(pixels, ".tiff"))
            return
        image = pixels.to_pil()
    else:
        image = Image.open(io.BytesIO(png))
    if path.suffix.lower() in (".jpg", ".jpeg") and image.mode in ("RGBA", "LA"):
        image = image.convert("RGB" if image.mode == "RGBA" else "L")
    image.save(path)


def _plan(args: argparse.Namespace) -> list[apply_plan.ApplyJob]:
    from stylize.engine.errors import InvalidInputError
    from stylize.engine.images import MIN_SIDE
    from stylize.engine.stroke_scale import check_stroke_scale

    if args.max_side and args.max_side < MIN_SIDE:
        raise UsageError(
            f"--max-side {args.max_side} is too small: use 0 (no cap) or at least {MIN_SIDE}"
        )
    try:
        check_stroke_scale(args.stroke_scale)
    except InvalidInputError as error:
        raise UsageError(f"--stroke-scale: {error}") from None
    if args.json and args.output == apply_plan.STDIO:
        raise UsageError("--json writes to standard output, so --output cannot be - as well")
    try:
        optimize_args.options(args)  # refuse bad optimisation options before any job
    except optimize_args.OptimizeUsageError as error:
        raise UsageError(str(error)) from None
    masks = args.masks or {}
    styles = [apply_plan.style_spec(spec, masks.get(i)) for i, spec in enumerate(args.style)]
    contents = apply_plan.expand_contents(args.content)
    jobs = apply_plan.plan(contents, styles, args.output, args.each_style)
    apply_plan.check_masks(jobs, args.strength_map)
    return jobs


def _report_done(args: argparse.Namespace, job: apply_plan.ApplyJob, seconds: float) -> None:
    if args.json:
        record = {
            "content": job.content,
            "styles": [
                {"style": s.target, "weight": s.weight, **({"mask": s.mask} if s.mask else {})}
                for s in job.styles
            ],
            "output": job.output,
            "seconds": round(seconds, 3),
        }
        print(json.dumps(record), flush=True)
    elif job.output != apply_plan.STDIO:
        print(job.output, flush=True)


def _batch_report(bar: ProgressBar, index: int, count: int, content: str) -> Report:
    """Progress of job ``index`` of ``count`` on the one bar of the whole batch."""
    prefix = f"[{index + 1}/{count}] " if count > 1 else ""
    name = "stdin" if content == apply_plan.STDIO else Path(content).name

    def report(fraction: float, message: str) -> None:
        bar.update((index + fraction) / count, f"{prefix}{name}: {message}")

    return report


def _apply_clip(args: argparse.Namespace) -> int:
    """A video, an animation or --sequence frames: client/video.py."""
    masks = args.masks or {}  # regions apply to every frame
    specs = [apply_plan.style_spec(spec, masks.get(i)) for i, spec in enumerate(args.style)]
    try:
        styles = _style_sources(specs)
        with contextlib.ExitStack() as stack:
            daemon = None if args.local else stack.enter_context(_connect(args, args.timeout))
            summary = video.apply_sequence(args, daemon, styles)
    except video.VideoUsageError as error:
        raise UsageError(str(error)) from None
    print(json.dumps(summary) if args.json else summary["output"], flush=True)
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    if video.is_sequence(args):
        return _apply_clip(args)
    jobs = _plan(args)  # every refusal that needs no daemon happens here, before any job
    bar = ProgressBar(enabled=not args.quiet)
    with contextlib.ExitStack() as stack:
        if args.local:
            runner: _LocalRunner | _RemoteRunner = _LocalRunner(args, bar)
        else:
            runner = _RemoteRunner(args, stack.enter_context(_connect(args, args.timeout)))
        optimizing = args.method == "optimize"
        stack.enter_context(optimize_args.finish_on_interrupt(runner.finish, optimizing))
        for index, job in enumerate(jobs):
            report = _batch_report(bar, index, len(jobs), job.content)
            png, seconds = runner.run(job, report, optimize_args.preview_saver(job.output))
            _save(png, job.output)
            _report_done(args, job, seconds)
    bar.finish("done")
    return 0


# -- predict-style ------------------------------------------------------------------


def cmd_predict_style(args: argparse.Namespace) -> int:
    spec = apply_plan.style_spec(args.style)
    target, is_file = spec.target, spec.is_file
    if args.local:
        from stylize.engine import images
        from stylize.engine.style_engine import StyleEngine, StylePreprocess

        data = (
            Path(target).read_bytes() if is_file else StyleLibrary().get(target).path.read_bytes()
        )
        pixels = images.decode(data, images.ImageLimits(), "style image")
        vector = (
            StyleEngine()
            .style_vector(pixels, StylePreprocess(args.style_size, not args.no_crop))
            .tolist()
        )
    else:
        from stylize.v1 import stylize_pb2 as pb

        source = client.file_style(target) if is_file else client.named_style(target)
        with _connect(args) as daemon:
            vector = daemon.predict_style(
                source, pb.StylePreprocess(size=args.style_size, no_crop=args.no_crop)
            )
    text = json.dumps([round(v, 7) for v in vector])
    if args.output:
        Path(args.output).write_text(text + "\n")
        print(args.output)
    else:
        print(text)
    return 0


# -- styles, info, serve ------------------------------------------------------------------


def cmd_styles(args: argparse.Namespace) -> int:
    """List and add through the daemon (its library, wherever it runs), or --local."""
    if args.action == "remove" or args.local:
        return _local_styles(args)
    with _connect(args) as daemon:
        if args.action == "list":
            for info in daemon.list_styles():
                _print_style(info)
        else:
            _print_style(daemon.add_style(_style_name(args), Path(args.file).read_bytes()))
    return 0


def _style_name(args: argparse.Namespace) -> str:
    return str(args.name or Path(args.file).stem)


def _print_style(info: client.pb.NamedStyleInfo) -> None:
    origin = "bundled" if info.origin == info.ORIGIN_BUNDLED else "user   "
    size = f"{info.width}x{info.height}" if info.width else info.thumbnail_error
    print(f"{info.name:24} {origin} {size:11} {info.file_bytes:>10,} bytes")


def _local_styles(args: argparse.Namespace) -> int:
    library = StyleLibrary()
    if args.action == "list":
        for name, style in sorted(library.styles().items()):
            print(f"{name:24} {'bundled' if style.bundled else 'user   '} {style.path}")
    elif args.action == "add":
        print(library.add(_style_name(args), Path(args.file)).path)
    else:
        library.remove(args.name)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from google.protobuf import json_format

    with _connect(args) as daemon:
        print(json_format.MessageToJson(daemon.info(), preserving_proto_field_name=True))
    return 0


def _read_token(path: str | None) -> str | None:
    """The token from ``--token-file`` or ``STYLIZE_TOKEN``; a blank one is a usage error."""
    from stylize.tokens import required_token

    source, raw = (
        (f"--token-file {path}", Path(path).read_text())
        if path
        else ("STYLIZE_TOKEN", os.environ.get("STYLIZE_TOKEN") or None)
    )
    try:
        return required_token(raw, source)
    except ValueError as error:
        raise UsageError(str(error)) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from stylize.server.malloc_tuning import tune_malloc

    tune_malloc()  # before TensorFlow's threads exist

    config = server_config(args)
    try:
        config.check()
    except ValueError as error:
        raise UsageError(str(error)) from None
    from stylize.server.server import serve  # TensorFlow: seconds, after the settings' checks

    return serve(config)


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The daemon's settings from ``stylize serve``'s options."""
    from stylize.engine.images import ImageLimits
    from stylize.server.config import ServerConfig

    return ServerConfig(
        host=args.host,
        port=args.port,
        image_limits=ImageLimits(max_pixels=args.max_pixels, max_side=args.max_side),
        max_message_bytes=args.max_message_mb << 20,
        max_concurrent_jobs=args.max_jobs,
        max_queued_jobs=args.max_queue,
        max_optimize_jobs=args.max_optimize_jobs,
        max_queued_optimize_jobs=args.max_optimize_queue,
        token=_read_token(args.token_file),
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        receive_timeout=args.receive_timeout,
        shutdown_grace=args.shutdown_grace,
        memory_budget_bytes=args.memory_budget_mb << 20 if args.memory_budget_mb else None,
        tls_client_ca=Path(args.tls_client_ca) if args.tls_client_ca else None,
        insecure=args.insecure,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        max_jobs_per_client=args.max_jobs_per_client,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
    )


# -- parser ------------------------------------------------------------------------


def _add_serve_command(commands: argparse._SubParsersAction) -> None:
    from stylize.engine.images import ImageLimits
    from stylize.server.config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig

    limits = ImageLimits()
    defaults = ServerConfig()
    serve = commands.add_parser(
        "serve",
        help="run the gRPC daemon in the foreground",
        description="Run the gRPC daemon until SIGTERM/SIGINT.",
    )
    serve.add_argument(
        "--host",
        default=os.environ.get("STYLIZE_HOST", DEFAULT_HOST),
        help="address to listen on (default %(default)s; env STYLIZE_HOST); "
        "anything but loopback requires a token",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("STYLIZE_PORT") or DEFAULT_PORT),
        help="port (default %(default)s; env STYLIZE_PORT; 0 picks a free one)",
    )
    serve.add_argument(
        "--max-pixels",
        type=int,
        default=limits.max_pixels,
        help="largest image accepted, in pixels (default %(default)s)",
    )
    serve.add_argument(
        "--max-side",
        type=int,
        default=limits.max_side,
        help="largest image side accepted (default %(default)s)",
    )
    serve.add_argument(
        "--max-message-mb",
        type=int,
        default=defaults.max_message_bytes >> 20,
        help="largest single gRPC message, MiB (default %(default)s)",
    )
    serve.add_argument(
        "--max-jobs",
        type=int,
        default=defaults.max_concurrent_jobs,
        help="jobs that run at once (default %(default)s)",
    )
    serve.add_argument(
        "--max-queue",
        type=int,
        default=defaults.max_queued_jobs,
        help="jobs that may wait; more are refused with RESOURCE_EXHAUSTED (default %(default)s)",
    )
    serve.add_argument(
        "--max-optimize-jobs",
        type=int,
        default=defaults.max_optimize_jobs,
        help="optimisation-method jobs that run at once, in their own slots beside fast jobs "
        "(they pause while a fast job runs); 0 turns the method off (default %(default)s)",
    )
    serve.add_argument(
        "--max-optimize-queue",
        type=int,
        default=defaults.max_queued_optimize_jobs,
        help="optimisation jobs that may wait (default %(default)s)",
    )
    serve.add_argument(
        "--token-file",
        help="file holding the bearer token clients must send (else env STYLIZE_TOKEN)",
    )
    serve.add_argument(
        "--receive-timeout",
        type=float,
        default=defaults.receive_timeout,
        help="seconds a client may stay silent mid-request before the call is ended "
        "(default %(default)s)",
    )
    serve.add_argument(
        "--shutdown-grace",
        type=float,
        default=defaults.shutdown_grace,
        help="on SIGTERM, seconds running jobs get to finish (default %(default)s)",
    )
    serve.add_argument(
        "--memory-budget-mb",
        type=int,
        default=0,
        help="memory all jobs together may reserve, MiB (default: what the machine or "
        "container has free at start)",
    )
    _add_serve_security_arguments(serve)
    _add_serve_limit_arguments(serve, defaults)
    serve.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: off; 0 picks a port)",
    )
    serve.add_argument(
        "--metrics-host",
        default=defaults.metrics_host,
        help="address of the metrics endpoint (default %(default)s; it has no authentication)",
    )
    serve.add_argument(
        "--health-port",
        type=int,
        default=None,
        help="also serve grpc.health.v1 alone on this plaintext port, for probes that "
        "cannot do TLS or tokens (Kubernetes grpc: probes); default: none",
    )
    serve.set_defaults(func=cmd_serve)


def _add_serve_security_arguments(serve: argparse.ArgumentParser) -> None:
    security = serve.add_argument_group(
        "security", "beyond loopback the daemon needs a token and TLS (or --insecure)"
    )
    security.add_argument("--tls-cert", metavar="PEM", help="the daemon's certificate chain")
    security.add_argument("--tls-key", metavar="PEM", help="the daemon's private key")
    security.add_argument(
        "--tls-client-ca",
        metavar="PEM",
        help="require client certificates signed by this CA (mTLS)",
    )
    security.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback address without TLS (token and images in clear text)",
    )


def _add_serve_limit_arguments(serve: argparse.ArgumentParser, defaults: ServerConfig) -> None:
    limits = serve.add_argument_group("per-client limits", "a client is its certificate or IP")
    limits.add_argument(
        "--rate-limit",
        type=float,
        default=defaults.rate_limit,
        metavar="PER_SECOND",
        help="Stylize and PredictStyle calls per second per client (default: no limit)",
    )
    limits.add_argument(
        "--rate-burst",
        type=int,
        default=defaults.rate_burst,
        help="calls a client may make at once before --rate-limit applies (default %(default)s)",
    )
    limits.add_argument(
        "--max-jobs-per-client",
        type=int,
        default=defaults.max_jobs_per_client,
        metavar="N",
        help="Stylize calls one client may have open at once (default: no limit)",
    )


def _stroke_scale(text: str) -> float:
    """A number, or 'full' for the smallest scale (the image's own resolution)."""
    if text.strip().lower() == "full":
        return stroke_scale.MIN_STROKE_SCALE
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'full'") from None


class _MaskAction(argparse.Action):
    """``--mask FILE`` belongs to the ``--style`` before it: ``masks`` maps that style's
    index to the file."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        styles = getattr(namespace, "style", None) or []
        masks = dict(getattr(namespace, self.dest, None) or {})
        if not styles:
            parser.error(f"{option_string} {values} must follow the --style it belongs to")
        index = len(styles) - 1
        if index in masks:
            parser.error(f"--style {styles[index]} has two masks; give one --mask after it")
        masks[index] = str(values)
        setattr(namespace, self.dest, masks)


def _add_apply_command(commands: argparse._SubParsersAction) -> None:
    apply = commands.add_parser(
        "apply",
        help="stylize images",
        description="Stylize each CONTENT with the mix of --style images (or, with "
        "--each-style, once per style). One progress bar covers the whole batch. "
        "Regions: give a style a --mask right after it, e.g. --style starry_night "
        "--mask sky.png --style great_wave --mask sea.png.",
    )
    apply.add_argument(
        "content",
        nargs="+",
        help="content image files or globs ('photos/*.jpg'); - reads standard input",
    )
    apply.add_argument(
        "--style",
        "-s",
        action="append",
        required=True,
        metavar="FILE_OR_NAME[:WEIGHT]",
        help="style image file or named style, with an optional weight; repeat to mix; "
        "follow it with --mask FILE to paint it only in part of the picture",
    )
    apply.add_argument(
        "--mask",
        action=_MaskAction,
        dest="masks",
        metavar="FILE",
        help="where the --style before it paints: a greyscale image with the content's "
        "aspect ratio (white: this style, black: not here, grey blends). Where every style "
        "has a mask and all are black, the photo keeps its own look (strength 0)",
    )
    apply.add_argument(
        "--strength", type=float, default=1.0, help="style strength 0..1 (default %(default)s)"
    )
    apply.add_argument(
        "--strength-map",
        metavar="FILE",
        help="greyscale image scaling --strength per pixel (white: full, black: none), "
        "with the content's aspect ratio",
    )
    apply.add_argument(
        "--output",
        "-o",
        required=True,
        help="output file (.png keeps alpha, and 16 bits for 16-bit/float content, as .tif "
        "does; .jpg, .webp, .bmp are 8-bit; - writes PNG "
        "to standard output); for several results a folder or a template with {stem}, "
        f"{{style}}, {{n}} (default name in a folder: {apply_plan.DEFAULT_TEMPLATE})",
    )
    apply.add_argument(
        "--each-style",
        action="store_true",
        help="one result per --style instead of one result mixing them",
    )
    apply.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line per result (content, styles, output, seconds)",
    )
    apply.add_argument(
        "--stroke-scale",
        type=_stroke_scale,
        default=stroke_scale.DEFAULT_STROKE_SCALE,
        metavar="S|full",
        help="size of the style's strokes relative to the image: the network paints at a "
        f"long side of {stroke_scale.STROKE_REFERENCE_SIDE}/S px and the result is upsampled "
        "with the photo's edges kept sharp; 2 paints strokes twice as large, 0.5 half; "
        "'full' (= 1/64, the minimum) runs at the image's own size: the finest strokes, "
        f"slowest (default %(default)g, at most {stroke_scale.MAX_STROKE_SCALE:g})",
    )
    apply.add_argument(
        "--max-side",
        type=int,
        default=0,
        help="cap the working size's long side (memory, time); the result is upsampled back "
        "(default: no cap)",
    )
    apply.add_argument(
        "--preserve-colors",
        action="store_true",
        help="keep the content's colours, take only the stylized luminance",
    )
    apply.add_argument(
        "--color-match",
        choices=["none", "content", "style"],
        default="none",
        help="colour matching: 'content' paints with the style's strokes in the photo's "
        "palette, 'style' gives the result the style's palette (default %(default)s)",
    )
    apply.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds to wait for the daemon (default %(default)s)",
    )
    apply.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    optimize_args.add_arguments(apply)
    video.add_arguments(apply)
    _add_client_arguments(apply)
    _add_style_arguments(apply)
    apply.set_defaults(func=cmd_apply)


def _add_predict_style_command(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser(
        "predict-style",
        help="print or save the 100-d style vector of an image",
        description="Compute the style vector of STYLE (a file or a named style).",
    )
    predict.add_argument("style", help="style image file or named style")
    predict.add_argument("--output", "-o", help="write the vector as JSON to this file")
    _add_client_arguments(predict)
    _add_style_arguments(predict)
    predict.set_defaults(func=cmd_predict_style)


def _add_styles_command(commands: argparse._SubParsersAction) -> None:
    styles = commands.add_parser(
        "styles",
        help="list, add or remove named styles",
        description="List or add the named styles of the daemon at --address (its own "
        "library, also when it runs on another machine), or of this machine's library with "
        "--local. remove works on this machine's library only.",
    )
    actions = styles.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list named styles")
    _add_client_arguments(listing)
    add = actions.add_parser("add", help="add a style image to the library")
    add.add_argument("file", help="image file (PNG, JPEG, WebP, TIFF, BMP, GIF)")
    add.add_argument("--name", help="the style's name (default: the file's name without suffix)")
    _add_client_arguments(add)
    remove = actions.add_parser("remove", help="remove a user style from this machine's library")
    remove.add_argument("name")
    styles.set_defaults(func=cmd_styles)


def _add_info_command(commands: argparse._SubParsersAction) -> None:
    info = commands.add_parser(
        "info",
        help="show a daemon's models, device and limits",
        description="Query GetInfo of a running daemon.",
    )
    info.add_argument("--address", default=client.default_address(), help=ADDRESS_HELP)
    _add_tls_arguments(info)
    info.set_defaults(func=cmd_info)


def _add_completion_command(commands: argparse._SubParsersAction) -> None:
    completion = commands.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script, e.g.: stylize completion bash > "
        "~/.local/share/bash-completion/completions/stylize",
    )
    completion.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    completion.set_defaults(func=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylize", description="Neural style transfer served by a local gRPC daemon."
    )
    parser.add_argument("--version", action="version", version=f"stylize {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve_command(commands)
    _add_apply_command(commands)
    _add_predict_style_command(commands)
    _add_styles_command(commands)
    _add_info_command(commands)
    gimp_install.register(commands)  # stylize gimp install / uninstall
    _add_completion_command(commands)
    # stylize service install / uninstall / status; the unit's serve options are checked now
    service_install.register(commands, lambda serve_args: parser.parse_args(serve_args))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from stylize import logs
    from stylize.engine.errors import StylizeError

    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(args.log_level, args.log_format)
    try:
        return int(args.func(args))
    except UsageError as error:
        parser.error(str(error))  # exits with EXIT_USAGE
    except apply_plan.PlanError as error:
        if error.usage:
            parser.error(str(error))
        print(f"stylize: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    except ClientError as error:
        address = getattr(args, "address", None) or client.default_address()
        message = user_messages.explain(error, address, getattr(args, "timeout", None), _SETTING)
        print(f"stylize: {message} [{error.code}]", file=sys.stderr)
        return EXIT_RUNTIME
    except (StylizeError, OSError) as error:
        print(f"stylize: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
