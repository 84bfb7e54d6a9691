"""The StyleTransfer servicer: wire <-> jobs at the edge, nothing else.

Each RPC turns messages into :mod:`stylize.jobs` dataclasses, runs the job in
the bounded :class:`JobRunner`, and streams progress and result chunks back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Generator, Iterable, Iterator

import grpc
import numpy as np

import stylize
from stylize.engine import images
from stylize.engine.errors import (
    BusyError,
    CancelledError,
    InvalidInputError,
    LimitExceededError,
    NotReadyError,
    StylizeError,
    UploadTimeoutError,
)
from stylize.engine.memory_budget import MemoryBudget, Reservation
from stylize.engine.optimization.method import MAX_ITERATIONS
from stylize.engine.transformer_network import STYLE_VECTOR_SIZE
from stylize.jobs import (
    Engines,
    ImageSource,
    JobResult,
    Method,
    RawSource,
    StylizeJob,
    accepted,
    check_job,
    check_style_source,
    encoding,
    run_job,
)
from stylize.models.provenance import ModelFile, model_file
from stylize.server import status, wire
from stylize.server.config import ServerConfig
from stylize.server.event_queue import EventQueue
from stylize.server.job_runner import JobRunner, Ticket
from stylize.server.request_reader import RequestReader
from stylize.style_gallery import StyleGallery
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

log = logging.getLogger(__name__)


class _Output:
    """The encoded result of a job, ready to stream."""

    def __init__(self, result: JobResult, raw: bool) -> None:
        self.result = result
        self.raw = raw
        # Raw pixels stream straight from the result's array: a copy of a 67-MP result
        # would cost 200 MB and a fifth of a second.
        self.data: bytes | memoryview = (
            np.ascontiguousarray(result.pixels.array).data.cast("B")
            if raw
            else images.encode_png(result.pixels)
        )


class _Controls:
    """Reads the request stream after the content: a `finish` message, or a violation.

    Runs in its own thread for the whole job, so a client can say "finish now" while
    the job runs; anything else it sends then ends the call with INVALID_ARGUMENT.
    """

    def __init__(self, reader: RequestReader[pb.StylizeRequest]) -> None:
        self.finish = threading.Event()
        self.cancelled = threading.Event()
        self.violation: StylizeError | None = None
        self._finish_received = False  # finish_all() also sets `finish`: not the client's
        self._done = threading.Event()
        self._reader = reader
        self._thread = threading.Thread(target=self._listen, name="stylize-controls", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._done.is_set():
            try:
                message = self._reader.next_message("control message", timeout=0.5)
            except UploadTimeoutError:
                continue
            except StylizeError:  # the client went away: the call's callback cancels
                return
            if message is None:
                return
            self._take(message)

    def _take(self, message: object) -> None:
        is_finish = (
            isinstance(message, pb.StylizeRequest) and message.WhichOneof("message") == "finish"
        )
        if is_finish and not self._finish_received:  # the .proto: a second one is invalid
            self._finish_received = True
            self.finish.set()
            return
        self.violation = InvalidInputError(
            "after the content's declared total_bytes, only one `finish` message may follow",
            field="finish" if is_finish else "content.total_bytes",
        )
        self.cancelled.set()
        self._done.set()

    def close(self) -> None:
        self._done.set()


class _StreamSlots:
    """Counts Stylize/PredictStyle handlers, refusing beyond ``limit`` (BUSY, retryable).

    Streams are bounded here, not with grpcio's ``maximum_concurrent_rpcs``, so Health
    and GetInfo always find a free server thread and every refusal carries details.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._count = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        with self._lock:
            if self._count >= self._limit:
                raise BusyError(
                    f"the daemon is busy ({self._limit} requests in progress); try again shortly"
                )
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1


def _log_call_end(context: grpc.ServicerContext, method: str, done: threading.Event) -> None:
    """Log calls that ended without an answer from us: cancelled or past their deadline."""

    def on_end() -> None:
        if done.is_set():
            return
        why = "deadline expired" if context.time_remaining() <= 0 else "cancelled by the client"
        log.info("request ended early method=%s why=%r", method, why)

    context.add_callback(on_end)


def _went_away(context: grpc.ServicerContext, grace: float = 0.25) -> bool:
    """Whether the call ends within ``grace`` seconds (the client cancelled it)."""
    deadline = time.monotonic() + grace
    while context.is_active():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _result_bytes(width: int, height: int, bytes_per_pixel: int) -> int:
    """Decoded content + the result, held until the result is sent (PNG <= raw + slack)."""
    return 2 * width * height * bytes_per_pixel + (1 << 16)


class StyleTransferService(stylize_pb2_grpc.StyleTransferServicer):
    def __init__(
        self,
        config: ServerConfig,
        runner: JobRunner,
        budget: MemoryBudget,
        optimize_runner: JobRunner | None = None,
    ) -> None:
        self._config = config
        self._runner = runner
        self._optimize_runner = optimize_runner
        self._budget = budget
        self._slots = _StreamSlots(config.max_streams)
        self._resolver: Engines | None = None
        self._gallery: StyleGallery | None = None
        self._ready = threading.Event()
        self._running: set[_Controls] = set()  # jobs past their upload
        self._running_lock = threading.Lock()

    def finish_all(self) -> None:
        """Ask every running optimisation to stop with its best picture (shutting down)."""
        with self._running_lock:
            for controls in self._running:
                controls.finish.set()

    @contextlib.contextmanager
    def _tracked(self, controls: _Controls) -> Iterator[_Controls]:
        with self._running_lock:
            self._running.add(controls)
        try:
            yield controls
        finally:
            with self._running_lock:
                self._running.discard(controls)
            controls.close()

    def set_ready(self, resolver: Engines) -> None:
        self._resolver = resolver
        self._gallery = StyleGallery(resolver.library, self._config.image_limits, self._budget)
        self._ready.set()

    def _resolver_or_refuse(self) -> Engines:
        if not self._ready.is_set() or self._resolver is None:
            raise NotReadyError("the daemon is still loading its models; retry in a few seconds")
        return self._resolver

    def _admit(self, job: StylizeJob) -> Ticket:
        """A place in the method's own queue: optimisations never hold up fast jobs."""
        if job.method is Method.FAST:
            return self._runner.admit()
        if self._optimize_runner is None or not self._config.max_optimize_jobs:
            raise InvalidInputError(
                "this daemon runs only the fast method (started with --max-optimize-jobs 0)",
                field="method",
            )
        return self._optimize_runner.admit()

    # -- Stylize ---------------------------------------------------------------

    def Stylize(
        self, request_iterator: Iterable[pb.StylizeRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.StylizeEvent]:
        done = threading.Event()
        _log_call_end(context, "Stylize", done)
        started = time.perf_counter()
        reader = RequestReader(iter(request_iterator), self._config.receive_timeout)
        try:
            with contextlib.ExitStack() as held:
                resolver = self._resolver_or_refuse()
                held.enter_context(self._slots.hold())
                setup = self._receive_setup(reader)
                job = wire.stylize_job(setup, wire.PENDING_CONTENT, self._config.max_styles)
                check_job(job, resolver.library, self._config.image_limits)
                expected = self._expected_content_bytes(setup.content)
                ticket = self._admit(job)
                held.callback(ticket.release)  # if the job never runs
                held.enter_context(self._budget.reserve(expected, "the upload"))
                yield wire.progress_event(accepted(ticket.queued))
                data = self._receive_content(reader, expected, context)
                controls = held.enter_context(self._tracked(_Controls(reader)))
                content = wire.content_source(setup.content, data)
                held.enter_context(self._reserve_result(content))
                raw = wire.output_is_raw(setup)
                job = dataclasses.replace(job, content=content)
                preview_side = setup.optimize.preview_max_side
                output = yield from self._run(
                    resolver, ticket, job, raw, context, controls, preview_side
                )
                yield from self._send(output, job, started)
                done.set()
        except Exception as error:
            if context.is_active():  # else the client left first: _log_call_end says so
                done.set()
            status.abort(context, error)
        finally:
            reader.close()

    def _send(self, output: _Output, job: StylizeJob, started: float) -> Iterator[pb.StylizeEvent]:
        pixels = output.result.pixels
        log.info(
            "stylize done method=%s size=%dx%d mode=%s styles=%d strength=%.2f iterations=%d "
            "compute=%.3fs total=%.3fs",
            job.method.value,
            pixels.width,
            pixels.height,
            pixels.mode.name,
            len(job.styles),
            job.strength,
            output.result.iterations,
            output.result.seconds,
            time.perf_counter() - started,
        )
        yield pb.StylizeEvent(
            result=wire.result_header(output.result, output.raw, len(output.data))
        )
        chunk = self._config.chunk_bytes
        view = memoryview(output.data)
        for offset in range(0, len(output.data), chunk):
            yield pb.StylizeEvent(result_chunk=bytes(view[offset : offset + chunk]))

    def _receive_setup(self, reader: RequestReader[pb.StylizeRequest]) -> pb.StylizeSetup:
        first = reader.next_message("setup message")
        if first is not None:
            first = wire.check_decoded(first, pb.StylizeRequest, "the first message")
        if first is None or first.WhichOneof("message") != "setup":
            raise InvalidInputError(
                "the first message of a Stylize call must be `setup`", field="setup"
            )
        return first.setup

    def _receive_content(
        self,
        reader: RequestReader[pb.StylizeRequest],
        expected: int,
        context: grpc.ServicerContext,
    ) -> bytearray:
        """The content's bytes, into one buffer of the declared size (no copies).

        Reading stops at the declared size: the client may keep its side open to send
        `finish` later (see :class:`_Controls`).
        """
        buffer = bytearray(expected)
        received = 0
        while received < expected:
            message = reader.next_message("content chunk")
            if message is None:
                break
            message = wire.check_decoded(message, pb.StylizeRequest, "a content message")
            if message.WhichOneof("message") != "content_chunk":
                raise InvalidInputError(
                    "after `setup`, `content_chunk` messages must carry the content's declared "
                    "total_bytes before anything else (`finish` may follow them)",
                    field="setup",
                )
            chunk = message.content_chunk
            if received + len(chunk) > expected:
                raise InvalidInputError(
                    f"content chunks carry more than the declared {expected:,} bytes",
                    field="content.total_bytes",
                )
            buffer[received : received + len(chunk)] = chunk
            received += len(chunk)
        if received != expected:
            if _went_away(context):  # a cancel can reach us as the end of the stream
                raise CancelledError("the client went away during the upload")
            raise InvalidInputError(
                f"content ended after {received:,} of the declared {expected:,} bytes",
                field="content.total_bytes",
            )
        return buffer

    def _expected_content_bytes(self, header: pb.ContentHeader) -> int:
        kind = header.WhichOneof("kind")
        if kind == "raw":
            raw = header.raw
            mode, depth = wire.pixel_layout(raw.format, "content image")
            try:
                self._config.image_limits.check(raw.width, raw.height, "content image")
            except StylizeError as error:
                error.field = "content.raw"
                raise
            needed = images.raw_bytes(raw.width, raw.height, mode, depth)
            if header.total_bytes != needed:
                name = pb.PixelFormat.Name(raw.format).removeprefix("PIXEL_FORMAT_")
                raise InvalidInputError(
                    f"content image: raw {name} {raw.width}x{raw.height} needs "
                    f"{needed:,} bytes but total_bytes is {header.total_bytes:,}",
                    field="content.total_bytes",
                )
            return needed
        if kind == "encoded":
            if header.total_bytes == 0:
                raise InvalidInputError(
                    "content image is empty (total_bytes is 0)", field="content.total_bytes"
                )
            if header.total_bytes > self._config.max_encoded_bytes:
                raise LimitExceededError(
                    f"content file is {header.total_bytes:,} bytes; this daemon accepts at most "
                    f"{self._config.max_encoded_bytes:,}",
                    field="content.total_bytes",
                )
            return header.total_bytes
        raise InvalidInputError(
            "setup.content must say whether the content is `encoded` or `raw`",
            field="content",
        )

    def _reserve_result(self, content: ImageSource) -> Reservation:
        if isinstance(content, RawSource):
            width, height = content.width, content.height
            bytes_per_pixel = content.mode.channels * content.depth.bytes
        else:
            width, height = images.declared_size(content.data, "content image")
            self._config.image_limits.check(width, height, "content image")
            bytes_per_pixel = 4 * images.declared_depth(content.data, "content image").bytes
        return self._budget.reserve(
            _result_bytes(width, height, bytes_per_pixel),
            f"the {width}x{height} content and result",
        )

    def _run(
        self,
        resolver: Engines,
        ticket: Ticket,
        job: StylizeJob,
        raw: bool,
        context: grpc.ServicerContext,
        controls: _Controls,
        preview_side: int,
    ) -> Generator[pb.StylizeEvent, None, _Output]:
        events = EventQueue()
        cancelled = threading.Event()
        context.add_callback(cancelled.set)

        def stopped() -> bool:
            return cancelled.is_set() or controls.cancelled.is_set()

        def pause() -> None:  # an optimisation waits while a fast job runs
            self._runner.wait_while_busy(lambda: stopped() or controls.finish.is_set())

        def work() -> _Output:
            try:
                result = run_job(resolver, job, events.put, stopped, controls.finish.is_set, pause)
            except CancelledError as error:
                log.info("job stopped why=%r", str(error))
                raise controls.violation or error from None
            if controls.violation is not None:  # e.g. a second `finish` as the job ended
                raise controls.violation
            events.put(encoding())
            return _Output(result, raw)

        future = ticket.run(work)
        future.add_done_callback(lambda _: events.close())  # wakes the stream at once
        while (progress := events.get()) is not None:
            yield wire.progress_event(progress)
            if progress.preview is not None:
                yield wire.preview_event(progress, preview_side)
        return future.result()

    # -- PredictStyle ------------------------------------------------------------

    def PredictStyle(
        self, request: pb.PredictStyleRequest, context: grpc.ServicerContext
    ) -> pb.PredictStyleResponse:
        done = threading.Event()
        _log_call_end(context, "PredictStyle", done)
        try:
            request = wire.check_decoded(request, pb.PredictStyleRequest, "the request")
            resolver = self._resolver_or_refuse()
            with self._slots.hold():
                vector = self._predict(resolver, request, context)
        except Exception as error:
            done.set()
            status.abort(context, error)
            raise
        done.set()
        return pb.PredictStyleResponse(vector=pb.StyleVector(values=vector.tolist()))

    def _predict(
        self,
        resolver: Engines,
        request: pb.PredictStyleRequest,
        context: grpc.ServicerContext,
    ) -> np.ndarray:
        """Predict in a job slot; a caller that goes away stops it (queued: never runs)."""
        try:
            source = wire.style_source(request.style, "style")
            check_style_source(source, resolver.library, self._config.image_limits, "style")
        except StylizeError as error:
            if error.field is None:
                error.field = "style"
            raise
        preprocess = wire.preprocess(request.preprocess)
        cancelled = threading.Event()

        def work() -> np.ndarray:
            if cancelled.is_set():
                raise CancelledError("the request was cancelled before it started")
            return resolver.vector(source, preprocess, "style")

        future, _ = self._runner.submit(work)

        def on_end() -> None:
            cancelled.set()
            future.cancel()

        context.add_callback(on_end)
        return future.result()

    # -- GetInfo -------------------------------------------------------------------

    def GetInfo(
        self, request: pb.GetInfoRequest, context: grpc.ServicerContext
    ) -> pb.GetInfoResponse:
        try:
            wire.check_decoded(request, pb.GetInfoRequest, "the request")
            resolver = self._resolver_or_refuse()
        except (NotReadyError, InvalidInputError) as error:
            status.abort(context, error)
            raise
        engine = resolver.engine
        limits = self._config.image_limits
        files = [engine.predictor_file, engine.transformer_file]
        methods = ["fast"]
        if self._config.max_optimize_jobs:
            files.append(_vgg19_file())
            methods.append("optimize")
        models = [
            pb.ModelInfo(
                name=f.name,
                version=f"{f.package}=={f.version}",
                source=f"{f.package}: {f.path.name}",
                sha256=f.sha256,
                license=f.license,
            )
            for f in files
        ]
        return pb.GetInfoResponse(
            version=stylize.__version__,
            models=models,
            device=engine.device,
            backend=engine.backend.name,
            backend_reason=engine.backend.reason,
            limits=pb.Limits(
                max_image_pixels=limits.max_pixels,
                max_image_side=limits.max_side,
                max_message_bytes=self._config.max_message_bytes,
                chunk_bytes=self._config.chunk_bytes,
                max_concurrent_jobs=self._config.max_concurrent_jobs,
                max_queued_jobs=self._config.max_queued_jobs,
                max_styles=self._config.max_styles,
                max_iterations=MAX_ITERATIONS,
                max_concurrent_optimize_jobs=self._config.max_optimize_jobs,
            ),
            methods=methods,
            named_styles=sorted(resolver.library.styles()),
            accepted_formats=list(images.ACCEPTED_FORMATS),
            style_vector_size=STYLE_VECTOR_SIZE,
            style_cache=pb.StyleCacheStats(
                entries=len(resolver.cache), hits=resolver.cache.hits, misses=resolver.cache.misses
            ),
        )

    # -- ListStyles, AddStyle --------------------------------------------------------

    def ListStyles(
        self, request: pb.ListStylesRequest, context: grpc.ServicerContext
    ) -> pb.ListStylesResponse:
        try:
            request = wire.check_decoded(request, pb.ListStylesRequest, "the request")
            gallery = self._gallery_or_refuse()
            with self._slots.hold():
                page = gallery.page(request.page_size, request.page_token, request.thumbnail_side)
        except Exception as error:
            status.abort(context, error)
            raise
        return pb.ListStylesResponse(
            styles=[wire.named_style_info(entry) for entry in page.entries],
            next_page_token=page.next_token,
            total=page.total,
        )

    def AddStyle(
        self, request: pb.AddStyleRequest, context: grpc.ServicerContext
    ) -> pb.AddStyleResponse:
        try:
            request = wire.check_decoded(request, pb.AddStyleRequest, "the request")
            gallery = self._gallery_or_refuse()
            with self._slots.hold():
                entry = gallery.add(request.name, request.image)
        except Exception as error:
            status.abort(context, error)
            raise
        log.info("style added name=%s bytes=%d", entry.name, entry.file_bytes)
        return pb.AddStyleResponse(style=wire.named_style_info(entry))

    def _gallery_or_refuse(self) -> StyleGallery:
        self._resolver_or_refuse()
        assert self._gallery is not None  # set with the resolver
        return self._gallery


@functools.cache
def _vgg19_file() -> ModelFile:
    return model_file("vgg19")
