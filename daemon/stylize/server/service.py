"""The StyleTransfer servicer: wire <-> jobs at the edge, nothing else.

Each RPC turns messages into :mod:`stylize.jobs` dataclasses, runs the job in
the bounded :class:`JobRunner`, and streams progress and result chunks back.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Generator, Iterable, Iterator

import grpc

import stylize
from stylize.engine import images
from stylize.engine.errors import InvalidInputError, LimitExceededError
from stylize.engine.transformer_network import STYLE_VECTOR_SIZE
from stylize.jobs import JobProgress, JobResult, Stage, StyleResolver, StylizeJob, run_stylize
from stylize.server import status, wire
from stylize.server.config import ServerConfig
from stylize.server.job_runner import JobRunner
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

log = logging.getLogger(__name__)

_STAGES = {
    Stage.QUEUED: pb.Progress.STAGE_QUEUED,
    Stage.RECEIVING: pb.Progress.STAGE_RECEIVING,
    Stage.PREDICTING_STYLE: pb.Progress.STAGE_PREDICTING_STYLE,
    Stage.STYLIZING: pb.Progress.STAGE_STYLIZING,
    Stage.ENCODING: pb.Progress.STAGE_ENCODING,
}


def _progress_event(progress: JobProgress) -> pb.StylizeEvent:
    return pb.StylizeEvent(
        progress=pb.Progress(
            stage=_STAGES[progress.stage], fraction=progress.fraction, message=progress.message
        )
    )


class _Output:
    """The encoded result of a job, ready to stream."""

    def __init__(self, result: JobResult, raw: bool) -> None:
        self.result = result
        self.raw = raw
        self.data = result.pixels.array.tobytes() if raw else images.encode_png(result.pixels)


class StyleTransferService(stylize_pb2_grpc.StyleTransferServicer):
    def __init__(self, config: ServerConfig, runner: JobRunner) -> None:
        self._config = config
        self._runner = runner
        self._resolver: StyleResolver | None = None
        self._ready = threading.Event()

    def set_ready(self, resolver: StyleResolver) -> None:
        self._resolver = resolver
        self._ready.set()

    def _require_ready(self, context: grpc.ServicerContext) -> StyleResolver:
        if not self._ready.is_set() or self._resolver is None:
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                "the daemon is still loading its models; retry in a few seconds",
            )
        assert self._resolver is not None
        return self._resolver

    # -- Stylize ---------------------------------------------------------------

    def Stylize(
        self, request_iterator: Iterable[pb.StylizeRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.StylizeEvent]:
        resolver = self._require_ready(context)
        started = time.perf_counter()
        try:
            setup, data = self._receive(iter(request_iterator))
            job = wire.stylize_job(
                setup, wire.content_source(setup.content, data), self._config.max_styles
            )
            raw = wire.output_is_raw(setup)
            output = yield from self._run(resolver, job, raw, context)
        except Exception as error:
            status.abort(context, error)
            return
        pixels = output.result.pixels
        log.info(
            "stylize done size=%dx%d mode=%s styles=%d strength=%.2f compute=%.3fs total=%.3fs",
            pixels.width,
            pixels.height,
            pixels.mode.name,
            len(job.styles),
            job.strength,
            output.result.seconds,
            time.perf_counter() - started,
        )
        yield pb.StylizeEvent(
            result=wire.result_header(
                pixels, raw, len(output.data), output.result.vector.tolist(), output.result.seconds
            )
        )
        chunk = self._config.chunk_bytes
        for offset in range(0, len(output.data), chunk):
            yield pb.StylizeEvent(result_chunk=output.data[offset : offset + chunk])

    def _receive(self, requests: Iterator[pb.StylizeRequest]) -> tuple[pb.StylizeSetup, bytes]:
        first = next(requests, None)
        if first is None or first.WhichOneof("message") != "setup":
            raise InvalidInputError("the first message of a Stylize call must be `setup`")
        setup = first.setup
        expected = self._expected_content_bytes(setup.content)
        buffer = bytearray()
        for message in requests:
            if message.WhichOneof("message") != "content_chunk":
                raise InvalidInputError("after `setup`, only `content_chunk` messages may follow")
            buffer += message.content_chunk
            if len(buffer) > expected:
                raise InvalidInputError(
                    f"content chunks carry more than the declared {expected:,} bytes"
                )
        if len(buffer) != expected:
            raise InvalidInputError(
                f"content ended after {len(buffer):,} of the declared {expected:,} bytes"
            )
        return setup, bytes(buffer)

    def _expected_content_bytes(self, header: pb.ContentHeader) -> int:
        kind = header.WhichOneof("kind")
        if kind == "raw":
            raw = header.raw
            mode = wire.pixel_mode(raw.format, "content image")
            self._config.image_limits.check(raw.width, raw.height, "content image")
            needed = raw.width * raw.height * mode.channels
            if header.total_bytes != needed:
                raise InvalidInputError(
                    f"content image: raw {mode.name} {raw.width}x{raw.height} needs "
                    f"{needed:,} bytes "
                    f"but total_bytes is {header.total_bytes:,}"
                )
            return needed
        if kind == "encoded":
            if header.total_bytes == 0:
                raise InvalidInputError("content image is empty (total_bytes is 0)")
            if header.total_bytes > self._config.max_encoded_bytes:
                raise LimitExceededError(
                    f"content file is {header.total_bytes:,} bytes; this daemon accepts at most "
                    f"{self._config.max_encoded_bytes:,}"
                )
            return header.total_bytes
        raise InvalidInputError("setup.content must say whether the content is `encoded` or `raw`")

    def _run(
        self, resolver: StyleResolver, job: StylizeJob, raw: bool, context: grpc.ServicerContext
    ) -> Generator[pb.StylizeEvent, None, _Output]:
        events: queue.Queue[JobProgress | None] = queue.Queue()
        cancelled = threading.Event()
        context.add_callback(cancelled.set)

        def work() -> _Output:
            result = run_stylize(resolver, job, events.put, cancelled.is_set)
            events.put(JobProgress(Stage.ENCODING, 0.97, "encoding the result"))
            return _Output(result, raw)

        future, queued = self._runner.submit(work)
        future.add_done_callback(lambda _: events.put(None))  # wakes the stream at once
        if queued:
            yield _progress_event(JobProgress(Stage.QUEUED, 0.0, "waiting for a free job slot"))
        while (progress := events.get()) is not None:
            yield _progress_event(progress)
        return future.result()

    # -- PredictStyle ------------------------------------------------------------

    def PredictStyle(
        self, request: pb.PredictStyleRequest, context: grpc.ServicerContext
    ) -> pb.PredictStyleResponse:
        resolver = self._require_ready(context)
        try:
            source = wire.style_source(request.style, "style")
            preprocess = wire.preprocess(request.preprocess)
            future, _ = self._runner.submit(lambda: resolver.vector(source, preprocess, "style"))
            vector = future.result()
        except Exception as error:
            status.abort(context, error)
            raise
        return pb.PredictStyleResponse(vector=pb.StyleVector(values=vector.tolist()))

    # -- GetInfo -------------------------------------------------------------------

    def GetInfo(
        self, request: pb.GetInfoRequest, context: grpc.ServicerContext
    ) -> pb.GetInfoResponse:
        resolver = self._require_ready(context)
        engine = resolver.engine
        limits = self._config.image_limits
        models = [
            pb.ModelInfo(
                name=f.name,
                version=f"{f.package}=={f.version}",
                source=f"{f.package}: {f.path.name}",
                sha256=f.sha256,
                license=f.license,
            )
            for f in (engine.predictor_file, engine.transformer_file)
        ]
        return pb.GetInfoResponse(
            version=stylize.__version__,
            models=models,
            device=engine.device,
            limits=pb.Limits(
                max_image_pixels=limits.max_pixels,
                max_image_side=limits.max_side,
                max_message_bytes=self._config.max_message_bytes,
                chunk_bytes=self._config.chunk_bytes,
                max_concurrent_jobs=self._config.max_concurrent_jobs,
                max_queued_jobs=self._config.max_queued_jobs,
                max_styles=self._config.max_styles,
            ),
            named_styles=sorted(resolver.library.styles()),
            style_vector_size=STYLE_VECTOR_SIZE,
            style_cache=pb.StyleCacheStats(
                entries=len(resolver.cache), hits=resolver.cache.hits, misses=resolver.cache.misses
            ),
        )
