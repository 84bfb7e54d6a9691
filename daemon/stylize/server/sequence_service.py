"""The StylizeSequence RPC: frames in, stylized frames out in order (jobs/sequence.py).

The servicer (server/service.py) delegates to :class:`SequenceService`. The call is
admitted like a Stylize call (a stream slot, the setup checked, one job ticket from the
fast runner for the whole sequence), then a job thread reads one frame, paints it,
queues its answer and reads the next. Back-pressure comes from gRPC flow control: the
request reader holds one message, the answer queue two (:data:`WAITING_RESULTS`), and the
handler hands an answer to gRPC only when the previous one has been sent, so a slow
reader stops the job thread, which stops reading, which stops the sender.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import grpc
import numpy as np

from stylize.engine import images
from stylize.engine.errors import CancelledError, InvalidInputError, StylizeError
from stylize.engine.images import Pixels
from stylize.engine.memory_budget import MemoryBudget
from stylize.engine.temporal import FrameReport, TemporalSettings
from stylize.jobs.job import PENDING_FRAME, EncodedSource, RawSource, StylizeJob
from stylize.jobs.progress import Progress, accepted
from stylize.jobs.resources import Engines, decode_image
from stylize.jobs.run import check_job
from stylize.jobs.sequence import SequenceRun, check_sequence, check_sequence_job
from stylize.server import status, wire
from stylize.server.config import ServerConfig
from stylize.server.job_runner import Ticket
from stylize.server.request_reader import RequestReader
from stylize.v1 import stylize_pb2 as pb

log = logging.getLogger(__name__)

WAITING_RESULTS = 2  # answers held for a slow reader, at most
PROGRESS_EVERY = 0.25  # seconds between Progress events (the first and last always go)
_DEFAULTS = TemporalSettings()


@contextlib.contextmanager
def _within_stylize() -> Iterator[None]:
    """Fields named relative to a StylizeSetup become relative to the sequence's setup."""
    try:
        yield
    except StylizeError as error:
        error.field = f"stylize.{error.field}" if error.field else "stylize"
        raise


@contextlib.contextmanager
def _frame_fields(index: int) -> Iterator[None]:
    """A frame's errors name ``frames[i]``; those about the setup (its styles, masks and
    options, read at the first frame) name their field under ``stylize.``."""
    try:
        yield
    except StylizeError as error:
        if error.field is None:
            error.field = f"frames[{index}]"
        elif not error.field.startswith("frames["):
            error.field = f"stylize.{error.field}"
        raise


def sequence_job(engines: Engines, setup: pb.StylizeSequenceSetup, max_styles: int) -> StylizeJob:
    """The job every frame shares, checked as a Stylize setup is; refusals name the field."""
    stylize = setup.stylize
    if stylize.HasField("content"):
        raise InvalidInputError(
            "stylize.content must be unset in a sequence: each frame carries its own pixels",
            field="stylize.content",
        )
    with _within_stylize():
        job = wire.stylize_job(stylize, PENDING_FRAME, max_styles)
        check_job(engines, job)
        check_sequence_job(job)
    return job


def temporal_settings(message: pb.Consistency) -> TemporalSettings:
    settings = TemporalSettings(
        motion=message.motion if message.HasField("motion") else _DEFAULTS.motion,
        colour=message.colour if message.HasField("colour") else _DEFAULTS.colour,
        scene_cut=message.scene_cut if message.HasField("scene_cut") else _DEFAULTS.scene_cut,
    )
    settings.check()
    return settings


def frame_source(frame: pb.Frame, index: int) -> RawSource | EncodedSource:
    kind = frame.WhichOneof("image")
    if kind == "raw":
        return wire.raw_source(frame.raw, f"frame {index}")
    if kind == "encoded" and frame.encoded:
        return EncodedSource(frame.encoded)
    raise InvalidInputError(f"frame {index} is empty: give raw pixels or an encoded image")


def frame_event(
    pixels: Pixels, report: FrameReport | None, raw: bool, seconds: float
) -> pb.StylizeSequenceEvent:
    frame = pb.Frame(seconds=seconds)
    if report is not None:
        frame.index, frame.scene_cut, frame.reliable = (
            report.index,
            report.scene_cut,
            report.reliable,
        )
    if raw:
        frame.raw.CopyFrom(
            pb.RawImage(
                width=pixels.width,
                height=pixels.height,
                format=wire.PIXEL_FORMATS[(pixels.mode, pixels.depth)],
                data=np.ascontiguousarray(pixels.array).tobytes(),
            )
        )
    else:
        frame.encoded = images.encode_png(pixels)
    return pb.StylizeSequenceEvent(frame=frame)


def _frame_bytes(source: RawSource | EncodedSource, what: str) -> tuple[int, int]:
    """(decoding, one result) bytes of a frame, for the memory budget."""
    if isinstance(source, RawSource):
        width, height = source.width, source.height
        channels, depth = source.mode.channels, source.depth
        return images.decode_bytes(width, height, channels, depth), images.raw_bytes(
            width, height, source.mode, depth
        )
    width, height = images.declared_size(source.data, what)
    return images.declared_decode_bytes(source.data, what), width * height * 4


class _Answers:
    """The job thread's answers for the handler: frames (blocking, bounded) and progress
    (dropped when the queue is full: a newer one follows)."""

    def __init__(self, stopped: Callable[[], bool]) -> None:
        self._queue: queue.Queue[pb.StylizeSequenceEvent] = queue.Queue(WAITING_RESULTS)
        self._stopped = stopped
        self._last_progress = 0.0

    def frame(self, event: pb.StylizeSequenceEvent) -> None:
        while not self._stopped():
            try:
                self._queue.put(event, timeout=0.25)
                return
            except queue.Full:
                continue
        raise CancelledError("the client went away")

    def progress(self, progress: Progress) -> None:
        now = time.monotonic()
        last = progress.frames is not None and progress.frames.done == progress.frames.total
        if now - self._last_progress < PROGRESS_EVERY and not last:
            return
        self._last_progress = now
        with contextlib.suppress(queue.Full):
            message = wire.progress_message(progress)
            self._queue.put_nowait(pb.StylizeSequenceEvent(progress=message))

    def get(self, timeout: float) -> pb.StylizeSequenceEvent | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


class SequenceService:
    def __init__(
        self,
        config: ServerConfig,
        admit: Callable[[StylizeJob], Ticket],
        budget: MemoryBudget,
        slots: Callable[[], contextlib.AbstractContextManager[None]],
        engines: Callable[[], Engines],
    ) -> None:
        self._config = config
        self._admit = admit  # the method's runner: an optimising sequence queues as one
        self._budget = budget
        self._slots = slots
        self._engines = engines

    def serve(
        self,
        request_iterator: Iterable[pb.StylizeSequenceRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[pb.StylizeSequenceEvent]:
        reader = RequestReader(iter(request_iterator), self._config.receive_timeout)
        try:
            with contextlib.ExitStack() as held:
                engines = self._engines()
                held.enter_context(self._slots())
                setup = self._receive_setup(reader)
                job = sequence_job(engines, setup, self._config.max_styles)
                temporal = temporal_settings(setup.consistency)
                check_sequence(job, temporal)
                ticket = self._admit(job)
                held.callback(ticket.release)  # if the sequence never runs
                first = wire.progress_message(accepted(ticket.queued))
                yield pb.StylizeSequenceEvent(progress=first)
                yield from self._run(engines, ticket, job, temporal, setup, reader, context)
        except Exception as error:
            status.abort(context, error)
        finally:
            reader.close()

    def _receive_setup(
        self, reader: RequestReader[pb.StylizeSequenceRequest]
    ) -> pb.StylizeSequenceSetup:
        first = reader.next_message("setup message")
        if first is not None:
            first = wire.check_decoded(first, pb.StylizeSequenceRequest, "the first message")
        if first is None or first.WhichOneof("message") != "setup":
            raise InvalidInputError(
                "the first message of a StylizeSequence call must be `setup`", field="setup"
            )
        return first.setup

    def _run(
        self,
        engines: Engines,
        ticket: Ticket,
        job: StylizeJob,
        temporal: TemporalSettings,
        setup: pb.StylizeSequenceSetup,
        reader: RequestReader[pb.StylizeSequenceRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[pb.StylizeSequenceEvent]:
        cancelled = threading.Event()
        context.add_callback(cancelled.set)
        answers = _Answers(cancelled.is_set)
        output_format = setup.stylize.options.output_format
        if output_format not in (pb.OUTPUT_FORMAT_UNSPECIFIED, pb.OUTPUT_FORMAT_RAW):
            output_format = pb.OUTPUT_FORMAT_PNG
        started = time.perf_counter()

        def work() -> SequenceRun:
            if cancelled.is_set():
                raise CancelledError("the sequence was cancelled before it started")
            run = SequenceRun(
                engines, job, temporal, answers.progress, cancelled.is_set, setup.total_frames
            )
            with contextlib.ExitStack() as sequence_held:
                sequence_held.enter_context(run)  # the regions' masks, for every frame
                while (message := reader.next_message(f"frame {run.done}")) is not None:
                    index = run.done
                    message = wire.check_decoded(message, pb.StylizeSequenceRequest, "a frame")
                    if message.WhichOneof("message") != "frame":
                        raise InvalidInputError(
                            f"after `setup` only `frame` messages may follow; message {index + 1} "
                            "is not one",
                            field=f"frames[{index}]",
                        )
                    if output_format == pb.OUTPUT_FORMAT_UNSPECIFIED:
                        raw = message.frame.WhichOneof("image") == "raw"
                    else:
                        raw = output_format == pb.OUTPUT_FORMAT_RAW
                    with _frame_fields(index):
                        event = self._frame(engines, run, message.frame, raw, sequence_held)
                    answers.frame(event)
            return run

        future = ticket.run(work)
        while True:
            event = answers.get(timeout=0.05)
            if event is not None:
                yield event
            elif future.done():
                while (event := answers.get(timeout=0)) is not None:
                    yield event
                break
        run = future.result()
        log.info(
            "sequence done frames=%d cuts=%d fps=%.2f style=%.3fs total=%.3fs",
            run.done,
            run.state.cuts,
            run.done / max(time.perf_counter() - started, 1e-9),
            run.vector_seconds,
            time.perf_counter() - started,
        )

    def _frame(
        self,
        engines: Engines,
        run: SequenceRun,
        frame: pb.Frame,
        raw: bool,
        sequence_held: contextlib.ExitStack,
    ) -> pb.StylizeSequenceEvent:
        """Paint the sequence's next frame, with its memory reserved; its answer."""
        index = run.done
        what = f"frame {index}"
        source = frame_source(frame, index)
        decoding, result = _frame_bytes(source, what)
        with self._budget.reserve(decoding + 2 * result, f"{what}: its pixels and result"):
            pixels = decode_image(source, engines.limits, what)
            run.check_frame(pixels, index)
            if index == 0:  # the state between frames, and the answers a slow reader holds
                state = run.state.state_bytes(pixels.width, pixels.height, 4)
                sequence_held.enter_context(
                    self._budget.reserve(
                        state + WAITING_RESULTS * result, "the sequence's state and answers"
                    )
                )
            started = time.perf_counter()
            out = run.frame(pixels)
            return frame_event(out, run.last, raw, time.perf_counter() - started)
