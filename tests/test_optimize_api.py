"""The optimisation method through the daemon: a real gRPC call over loopback, real VGG19.

Small pictures (64 x 48) and few iterations keep each run to seconds on two cores.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Iterator

import grpc
import pytest
from conftest import DaemonProcess, decode_png, encode, sample_photo, start_daemon, stop_daemon
from PIL import Image
from stylize.client import library as client
from stylize.client.library import ClientError, StylizeClient
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc
from test_hardening import details, raw_call

STYLES = [client.named_style("starry_night"), client.named_style("great_wave", 0.5)]
CONTENT = encode(sample_photo(64, 48))


def optimize(**fields: object) -> pb.OptimizeOptions:
    return pb.OptimizeOptions(optimizer=pb.OptimizeOptions.OPTIMIZER_ADAM, **fields)


def test_an_optimisation_streams_iterations_and_previews(daemon_address: str) -> None:
    progress: list[pb.Progress] = []
    previews: list[pb.Preview] = []
    with StylizeClient(daemon_address) as daemon:
        result = daemon.stylize(
            CONTENT,
            STYLES,
            optimize=optimize(iterations=6, preview_every=2),
            on_progress=progress.append,
            on_preview=previews.append,
        )
    steps = [p for p in progress if p.stage == pb.Progress.STAGE_OPTIMIZING]
    assert [p.iteration for p in steps] == [1, 2, 3, 4, 5, 6]
    assert all(p.iterations == 6 and (p.width, p.height) == (64, 48) for p in steps)
    assert all(
        math.isclose(p.loss.total, p.loss.content + p.loss.style + p.loss.tv, rel_tol=1e-4)
        for p in steps
    )
    assert "iteration 6 of 6" in steps[-1].message
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] < 1.0
    assert [p.iteration for p in previews] == [2, 4, 6]
    for preview in previews:
        image = Image.open(io.BytesIO(preview.png))
        assert image.size == (preview.width, preview.height) == (64, 48)
    assert result.iterations == 6 and not result.finished_early
    assert result.vector == [] and result.loss is not None and result.loss > 0
    assert result.encoded is not None and decode_png(result.encoded).size == (64, 48)


def test_previews_can_be_smaller_than_the_picture(daemon_address: str) -> None:
    previews: list[pb.Preview] = []
    with StylizeClient(daemon_address) as daemon:
        daemon.stylize(
            encode(sample_photo(96, 64)),
            STYLES[:1],
            optimize=optimize(iterations=2, preview_every=1, preview_max_side=48),
            on_preview=previews.append,
        )
    assert [(p.width, p.height) for p in previews] == [(48, 32), (48, 32)]


def test_finish_keeps_the_best_picture_so_far(daemon_address: str) -> None:
    with StylizeClient(daemon_address) as daemon:

        def on_progress(progress: pb.Progress) -> None:
            if progress.iteration >= 3:
                daemon.finish()

        result = daemon.stylize(
            CONTENT, STYLES[:1], optimize=optimize(iterations=5000), on_progress=on_progress
        )
    assert result.finished_early and 3 <= result.iterations < 5000
    assert result.encoded is not None and decode_png(result.encoded).size == (64, 48)


def test_max_seconds_stops_with_a_result(daemon_address: str) -> None:
    with StylizeClient(daemon_address) as daemon:
        result = daemon.stylize(
            CONTENT, STYLES[:1], optimize=optimize(iterations=50_000, max_seconds=2.0)
        )
    assert result.finished_early and 1 <= result.iterations < 50_000


def test_cancel_stops_an_optimisation(daemon_address: str) -> None:
    with StylizeClient(daemon_address) as daemon:

        def on_progress(progress: pb.Progress) -> None:
            if progress.iteration >= 2:
                daemon.cancel()

        with pytest.raises(ClientError) as caught:
            daemon.stylize(
                CONTENT, STYLES[:1], optimize=optimize(iterations=5000), on_progress=on_progress
            )
    assert caught.value.code == "CANCELLED"


def test_a_fast_job_is_not_held_up_by_an_optimisation(daemon_address: str) -> None:
    """Optimisations have their own slot: a fast job sent meanwhile runs and finishes."""
    running = threading.Event()
    outcome: dict[str, object] = {}
    optimiser = StylizeClient(daemon_address)

    def optimise() -> None:
        def on_progress(progress: pb.Progress) -> None:
            if progress.stage == pb.Progress.STAGE_OPTIMIZING:
                running.set()

        outcome["result"] = optimiser.stylize(
            CONTENT, STYLES[:1], optimize=optimize(iterations=50_000), on_progress=on_progress
        )

    thread = threading.Thread(target=optimise)
    thread.start()
    try:
        assert running.wait(120)
        with StylizeClient(daemon_address, timeout=120) as fast:
            result = fast.stylize(encode(sample_photo(64, 64)), STYLES[:1])
        assert result.encoded is not None
        assert thread.is_alive() and "result" not in outcome  # still optimising
    finally:
        optimiser.finish()
        thread.join(120)
        optimiser.close()
    assert outcome["result"].finished_early  # type: ignore[attr-defined]


# -- bad options: INVALID_ARGUMENT / RESOURCE_EXHAUSTED, naming the field ------------------


def optimize_setup(**fields: object) -> pb.StylizeSetup:
    setup, _ = client.stylize_setup(
        CONTENT,
        fields.pop("styles", STYLES[:1]),
        optimize=optimize(),  # type: ignore[arg-type]
    )
    for name, value in fields.items():
        if isinstance(value, pb.OptimizeOptions):
            getattr(setup, name).CopyFrom(value)
        else:
            setattr(setup, name, value)
    return setup


@pytest.mark.parametrize(
    ("setup", "field", "words"),
    [
        (optimize_setup(optimize=optimize(iterations=10**6)), "optimize.iterations", "1..100,000"),
        (optimize_setup(optimize=pb.OptimizeOptions(optimizer=7)), "optimize.optimizer", "LBFGS"),
        (optimize_setup(optimize=pb.OptimizeOptions(init=9)), "optimize.init", "NOISE"),
        (
            optimize_setup(optimize=optimize(content_weight=math.nan)),
            "optimize.content_weight",
            "finite",
        ),
        (optimize_setup(optimize=optimize(style_weight=-1)), "optimize.style_weight", ">= 0"),
        (optimize_setup(optimize=optimize(style_scale=9)), "optimize.style_scale", "(0, 4.0]"),
        (
            optimize_setup(optimize=pb.OptimizeOptions(init=pb.OptimizeOptions.INIT_IMAGE)),
            "optimize.init_image",
            "init IMAGE",
        ),
        (
            optimize_setup(styles=[client.vector_style([0.1] * 100)]),
            "styles[0]",
            "send the image",
        ),
        (optimize_setup(strength=0.5), "strength", "content_weight"),
        (optimize_setup(method=7), "method", "FAST or OPTIMIZE"),
    ],
)
def test_bad_optimisation_options_are_refused_before_the_upload(
    daemon_address: str, setup: pb.StylizeSetup, field: str, words: str
) -> None:
    error = raw_call(daemon_address, [pb.StylizeRequest(setup=setup)])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert details(error)["fields"] == [field]
    assert words in error.details()


def test_optimize_options_with_the_fast_method_are_refused(daemon_address: str) -> None:
    setup, _ = client.stylize_setup(CONTENT, STYLES[:1])
    setup.optimize.iterations = 10
    error = raw_call(daemon_address, [pb.StylizeRequest(setup=setup)])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(error)["fields"] == ["optimize"]


def test_scales_beyond_the_picture_are_refused(daemon_address: str) -> None:
    with StylizeClient(daemon_address) as daemon, pytest.raises(ClientError) as caught:
        daemon.stylize(CONTENT, STYLES[:1], optimize=optimize(iterations=4, scales=[32, 128]))
    assert caught.value.code == "INVALID_ARGUMENT" and "128" in caught.value.message


def test_a_message_after_the_content_other_than_finish_is_refused(daemon_address: str) -> None:
    setup, data = client.stylize_setup(CONTENT, STYLES[:1], optimize=optimize(iterations=5000))
    requests = [
        pb.StylizeRequest(setup=setup),
        pb.StylizeRequest(content_chunk=data),
        pb.StylizeRequest(content_chunk=b"more"),
    ]
    error = raw_call(daemon_address, requests)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "only one `finish`" in error.details()


def test_finish_before_the_content_is_refused(daemon_address: str) -> None:
    setup, _ = client.stylize_setup(CONTENT, STYLES[:1], optimize=optimize(iterations=5))
    requests = [pb.StylizeRequest(setup=setup), pb.StylizeRequest(finish=pb.Finish())]
    error = raw_call(daemon_address, requests)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "declared total_bytes before anything else" in error.details()


@pytest.fixture(scope="module")
def small_memory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    daemon = start_daemon(
        tmp_path_factory.mktemp("small-memory") / "daemon.log", "--memory-budget-mb", "400"
    )
    yield daemon
    stop_daemon(daemon)


@pytest.mark.slow
def test_a_picture_too_large_to_optimise_names_the_size_that_fits(
    small_memory: DaemonProcess,
) -> None:
    with StylizeClient(small_memory.address) as daemon, pytest.raises(ClientError) as caught:
        daemon.stylize(encode(sample_photo(1024, 768)), STYLES[:1], optimize=optimize())
    error = caught.value
    assert (error.code, error.reason) == ("RESOURCE_EXHAUSTED", "TOO_LARGE_FOR_MEMORY")
    assert error.field == "options.max_side" and error.retry_after is None
    assert "largest size that fits is about" in error.message
    side = int(error.message.split("to ")[-1].split(" or less")[0])
    with StylizeClient(small_memory.address) as daemon:  # and that size does fit
        options = pb.StylizeOptions(max_side=side)
        result = daemon.stylize(
            encode(sample_photo(1024, 768)),
            STYLES[:1],
            options=options,
            optimize=optimize(iterations=1),
        )
    assert result.encoded is not None and decode_png(result.encoded).size == (1024, 768)


def test_get_info_lists_the_methods_and_vgg19(daemon_address: str) -> None:
    with StylizeClient(daemon_address) as daemon:
        info = daemon.info()
    assert list(info.methods) == ["fast", "optimize"]
    assert "vgg19" in [m.name for m in info.models]
    assert info.limits.max_iterations == 100_000 and info.limits.max_concurrent_optimize_jobs == 1


def test_old_clients_without_the_method_field_get_the_fast_method(daemon_address: str) -> None:
    """A setup as a v1 client before the optimisation method sends it."""
    setup, data = client.stylize_setup(CONTENT, STYLES[:1])
    assert not setup.HasField("optimize") and setup.method == pb.METHOD_UNSPECIFIED
    with grpc.insecure_channel(daemon_address) as channel:
        stub = stylize_pb2_grpc.StyleTransferStub(channel)
        requests = iter([pb.StylizeRequest(setup=setup), pb.StylizeRequest(content_chunk=data)])
        events = list(stub.Stylize(requests, timeout=60))
    header = next(e.result for e in events if e.WhichOneof("event") == "result")
    assert len(header.vector.values) == 100 and header.iterations == 0


@pytest.mark.slow
def test_sigterm_ends_an_optimisation_with_its_best_picture(tmp_path) -> None:
    import signal

    daemon = start_daemon(tmp_path / "daemon.log")
    outcome: dict[str, object] = {}
    with StylizeClient(daemon.address, timeout=120) as optimiser:

        def on_progress(progress: pb.Progress) -> None:
            if progress.iteration == 2:
                daemon.process.send_signal(signal.SIGTERM)

        try:
            outcome["result"] = optimiser.stylize(
                CONTENT, STYLES[:1], optimize=optimize(iterations=50_000), on_progress=on_progress
            )
        finally:
            stop_daemon(daemon)
    result = outcome["result"]
    assert result.finished_early and result.iterations >= 2  # type: ignore[attr-defined]
    assert "drained=True" in daemon.log()


def test_stroke_scale_sets_the_optimisations_style_scale() -> None:
    from stylize.jobs.methods.optimize import style_scale_of
    from stylize.server import wire

    def job(stroke: float | None, style_scale: float | None = None):  # type: ignore[no-untyped-def]
        options = pb.StylizeOptions()
        if stroke is not None:
            options.stroke_scale = stroke
        extra = {} if style_scale is None else {"style_scale": style_scale}
        setup, _ = client.stylize_setup(
            CONTENT, STYLES[:1], options=options, optimize=optimize(**extra)
        )
        return style_scale_of(wire.stylize_job(setup, wire.PENDING_CONTENT, 16))

    assert job(None) == 1.0
    assert job(2.0) == 2.0
    assert job(1 / 64) == 0.25 and job(16) == 4.0  # clamped
    assert job(2.0, style_scale=0.5) == 0.5  # the optimisation's own wins
    with pytest.raises(Exception, match="stroke scale nan"):
        job(math.nan)
