"""The StyleTransfer servicer: each RPC admits, runs its job and streams the answer.

Each RPC turns messages into :mod:`stylize.jobs` dataclasses, runs the job in
the bounded :class:`JobRunner`, and streams progress and result chunks back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Generator, Iterable, Iterator

import grpc
import numpy as np

import stylize
from stylize.engine import images
from stylize.engine.errors import (
    CancelledError,
    InvalidInputError,
    NotReadyError,
    StylizeError,
)
from stylize.engine.memory_budget import MemoryBudget, Reservation
from stylize.engine.network_layout import STYLE_VECTOR_SIZE
from stylize.engine.optimization.method import MAX_ITERATIONS
from stylize.jobs.checks import check_style_source
from stylize.jobs.job import FAST, ImageSource, JobResult, RawSource, StylizeJob
from stylize.jobs.method import Controls
from stylize.jobs.progress import accepted, finishing
from stylize.jobs.resources import Engines
from stylize.jobs.run import check_job, run_job
from stylize.jobs.style_gallery import StyleGallery
from stylize.server import status, upload, wire
from stylize.server.config import ServerConfig
from stylize.server.event_queue import EventQueue
from stylize.server.job_runner import JobRunner, Ticket
from stylize.server.request_reader import RequestReader
from stylize.server.sequence_service import SequenceService
from stylize.server.stream_slots import StreamSlots
from stylize.server.upload import ControlListener
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


def _log_call_end(context: grpc.ServicerContext, method: str, done: threading.Event) -> None:
    """Log calls that ended without an answer from us: cancelled or past their deadline."""

    def on_end() -> None:
        if done.is_set():
            return
        why = "deadline expired" if context.time_remaining() <= 0 else "cancelled by the client"
        log.info("request ended early method=%s why=%r", method, why)

    context.add_callback(on_end)


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
        self._slots = StreamSlots(config.max_streams)
        self._resolver: Engines | None = None
        self._gallery: StyleGallery | None = None
        self._ready = threading.Event()
        self._running: set[ControlListener] = set()  # jobs past their upload
        self._running_lock = threading.Lock()
        self._sequences = SequenceService(
            config, self._admit, budget, self._slots.hold, self._resolver_or_refuse
        )

    def finish_all(self) -> None:
        """Ask every running optimisation to stop with its best picture (shutting down)."""
        with self._running_lock:
            for controls in self._running:
                controls.finish.set()

    @contextlib.contextmanager
    def _tracked(self, controls: ControlListener) -> Iterator[ControlListener]:
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
        if job.method == FAST:
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
                setup = upload.receive_setup(reader)
                job = wire.stylize_job(setup, wire.PENDING_CONTENT, self._config.max_styles)
                check_job(resolver, job)
                expected = upload.expected_content_bytes(setup.content, self._config)
                ticket = self._admit(job)
                held.callback(ticket.release)  # if the job never runs
                held.enter_context(self._budget.reserve(expected, "the upload"))
                yield wire.progress_event(accepted(ticket.queued))
                data = upload.receive_content(reader, expected, context)
                controls = held.enter_context(self._tracked(ControlListener(reader)))
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
            job.method,
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

    def _reserve_result(self, content: ImageSource) -> Reservation:
        """The content and the result at full size, decoded to sent (images.result_bytes)."""
        if isinstance(content, RawSource):
            width, height = content.width, content.height
            needed = images.result_bytes(width, height, content.mode.channels, content.depth)
        else:
            width, height = images.declared_size(content.data, "content image")
            self._config.image_limits.check(width, height, "content image")
            needed = images.declared_result_bytes(content.data, "content image")
        return self._budget.reserve(needed, f"the {width}x{height} content and result")

    def _run(
        self,
        resolver: Engines,
        ticket: Ticket,
        job: StylizeJob,
        raw: bool,
        context: grpc.ServicerContext,
        controls: ControlListener,
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
                result = run_job(
                    resolver, job, events.put, Controls(stopped, controls.finish.is_set, pause)
                )
            except CancelledError as error:
                log.info("job stopped why=%r", str(error))
                raise controls.violation or error from None
            if controls.violation is not None:  # e.g. a second `finish` as the job ended
                raise controls.violation
            events.put(finishing())
            return _Output(result, raw)

        future = ticket.run(work)
        future.add_done_callback(lambda _: events.close())  # wakes the stream at once
        while (progress := events.get()) is not None:
            yield wire.progress_event(progress)
            if progress.preview is not None:
                yield wire.preview_event(progress, preview_side)
        return future.result()

    def StylizeSequence(
        self, request_iterator: Iterable[pb.StylizeSequenceRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.StylizeSequenceEvent]:
        return self._sequences.serve(request_iterator, context)  # server/sequence_service.py

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
        methods = [
            method
            for name, method in resolver.methods.items()
            if name == FAST or self._config.max_optimize_jobs
        ]
        files = [file for method in methods for file in method.model_files(resolver)]
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
                memory_budget_bytes=self._budget.capacity,
                memory_budget_source=self._budget.source,
            ),
            methods=[method.name for method in methods],
            features=list(wire.FEATURES),
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
