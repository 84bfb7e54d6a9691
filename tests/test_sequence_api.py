"""StylizeSequence over real gRPC on loopback: a real daemon, real networks, small frames."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from conftest import SAMPLES, DaemonProcess
from PIL import Image
from stylize.client.library import (
    ClientError,
    RawImage,
    SequenceFrame,
    StylizeClient,
    named_style,
)
from stylize.v1 import stylize_pb2 as pb

WIDTH, HEIGHT = 64, 48


def _pan(count: int, step: int = 2) -> list[RawImage]:
    photo = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((200, 160)))
    return [
        RawImage(
            WIDTH, HEIGHT, "RGB8", photo[40 : 40 + HEIGHT, i * step : i * step + WIDTH].tobytes()
        )
        for i in range(count)
    ]


def _pixels(frame: SequenceFrame) -> np.ndarray:
    assert frame.image is not None
    return np.frombuffer(frame.image.data, np.uint8).reshape(HEIGHT, WIDTH, -1)


def test_a_short_sequence_comes_back_in_order_with_progress(daemon_address: str) -> None:
    frames = _pan(6)
    progress: list[pb.Progress] = []
    with StylizeClient(daemon_address) as client:
        results = list(
            client.stylize_sequence(
                frames, [named_style("starry_night")], total_frames=6, on_progress=progress.append
            )
        )
    assert [r.index for r in results] == list(range(6))
    assert all(r.image is not None and r.image.format == "RGB8" for r in results)
    assert results[0].scene_cut and not any(r.scene_cut for r in results[1:])
    assert all(r.reliable > 0.3 for r in results[1:])
    assert progress[0].stage in (pb.Progress.STAGE_QUEUED, pb.Progress.STAGE_RECEIVING)
    done = [p for p in progress if p.frames_done]
    assert done and done[-1].frames_done == 6 and done[-1].frames_total == 6
    assert done[-1].frames_per_second > 0


def test_each_result_belongs_to_its_own_frame(daemon_address: str) -> None:
    """With consistency off a sequence's frames are single Stylize results, in order."""
    frames = _pan(4, step=30)  # far apart: every frame looks different
    off = pb.Consistency(motion=0.0, colour=0.0)
    style = [named_style("starry_night")]
    with StylizeClient(daemon_address) as client:
        results = [_pixels(r) for r in client.stylize_sequence(frames, style, consistency=off)]
        singles = [client.stylize(frame, style).image for frame in frames]
    for index, single in enumerate(singles):
        assert single is not None
        own = np.frombuffer(single.data, np.uint8).reshape(HEIGHT, WIDTH, 3).astype(float)
        distances = [np.abs(own - result).mean() for result in results]
        assert int(np.argmin(distances)) == index and distances[index] < 1.0


def test_encoded_frames_come_back_as_png(daemon_address: str) -> None:
    import io

    pngs = []
    for frame in _pan(2):
        buffer = io.BytesIO()
        image = np.frombuffer(frame.data, np.uint8).reshape(HEIGHT, WIDTH, 3)
        Image.fromarray(image).save(buffer, "PNG")
        pngs.append(buffer.getvalue())
    with StylizeClient(daemon_address) as client:
        results = list(client.stylize_sequence(pngs, [named_style("starry_night")]))
    assert [r.index for r in results] == [0, 1]
    assert all(
        r.encoded and Image.open(io.BytesIO(r.encoded)).size == (WIDTH, HEIGHT) for r in results
    )


def test_a_frame_of_another_size_mid_stream_names_its_index(daemon_address: str) -> None:
    frames = _pan(3)
    odd = RawImage(WIDTH, HEIGHT - 8, "RGB8", bytes(WIDTH * (HEIGHT - 8) * 3))
    received = []
    with StylizeClient(daemon_address) as client, pytest.raises(ClientError) as caught:
        for result in client.stylize_sequence(
            [*frames[:2], odd, frames[2]], [named_style("starry_night")]
        ):
            received.append(result.index)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert caught.value.field == "frames[2]" and "frame 2" in str(caught.value)
    assert received == [0, 1]


def test_a_raw_frame_with_the_wrong_byte_count_names_its_index(daemon_address: str) -> None:
    frames = _pan(2)
    short = RawImage(WIDTH, HEIGHT, "RGB8", frames[1].data[:-3])
    with StylizeClient(daemon_address) as client, pytest.raises(ClientError) as caught:
        list(client.stylize_sequence([frames[0], short], [named_style("starry_night")]))
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.field == "frames[1]"


@pytest.mark.parametrize(
    ("setup_change", "field"),
    [
        ({"consistency": pb.Consistency(motion=1.5)}, "consistency.motion"),
        ({"options": pb.StylizeOptions(max_side=8)}, "stylize.options.max_side"),
        ({"strength": 2.0}, "stylize.strength"),
    ],
)
def test_bad_setups_are_refused_before_any_frame(
    daemon_address: str, setup_change: dict, field: str
) -> None:
    with StylizeClient(daemon_address) as client, pytest.raises(ClientError) as caught:
        list(client.stylize_sequence(_pan(2), [named_style("starry_night")], **setup_change))
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.field == field


def test_cancel_mid_sequence_stops_it_and_frees_the_slot(
    daemon_address: str, daemon_process: DaemonProcess
) -> None:
    frames = _pan(2)
    endless = itertools.cycle(frames)
    got = []
    with StylizeClient(daemon_address) as client, pytest.raises(ClientError) as caught:
        for result in client.stylize_sequence(endless, [named_style("starry_night")]):
            got.append(result.index)
            if len(got) == 3:
                threading.Thread(target=client.cancel).start()
    assert caught.value.code == "CANCELLED"
    assert 3 <= len(got) <= 8
    with StylizeClient(daemon_address) as client:  # the slot came back: a new one runs
        again = list(client.stylize_sequence(frames, [named_style("starry_night")]))
    assert [r.index for r in again] == [0, 1]


@pytest.mark.slow
def test_a_slow_reader_slows_the_sender(daemon_address: str) -> None:
    """Without the client library's window: the daemon itself reads frames only as fast
    as its answers are taken (gRPC flow control, one frame read ahead, two answers held)."""
    import time

    import grpc
    from stylize.v1 import stylize_pb2_grpc

    width, height = 640, 360
    frame = pb.Frame(raw=pb.RawImage(width=width, height=height, format=pb.PIXEL_FORMAT_RGB8))
    frame.raw.data = (
        np.random.default_rng(0).integers(0, 255, width * height * 3, np.uint8).tobytes()
    )
    pulled = 0

    def requests() -> Iterator[pb.StylizeSequenceRequest]:
        nonlocal pulled
        yield pb.StylizeSequenceRequest(
            setup=pb.StylizeSequenceSetup(
                stylize=pb.StylizeSetup(
                    styles=[pb.StyleSource(named="starry_night")],
                    options=pb.StylizeOptions(max_side=128),
                )
            )
        )
        for _ in range(200):
            pulled += 1
            yield pb.StylizeSequenceRequest(frame=frame)

    options = [
        ("grpc.max_send_message_length", 64 << 20),
        ("grpc.max_receive_message_length", 64 << 20),
    ]
    with grpc.insecure_channel(daemon_address, options=options) as channel:
        call = stylize_pb2_grpc.StyleTransferStub(channel).StylizeSequence(requests())
        next(call)  # admitted
        time.sleep(6)  # a reader that does not read: the daemon could paint dozens meanwhile
        stalled = pulled
        answers = sum(1 for event in itertools.islice(call, 30) if event.HasField("frame"))
        call.cancel()
    # Taken meanwhile: the daemon's own holdings (one frame read ahead, one painting, two
    # answers) plus what gRPC's flow-control windows hold in transit (measured: 18 frames,
    # about 12 MB, in all); bounded whatever the sequence's length, far below 200.
    assert stalled * len(frame.raw.data) < 32 << 20, f"{stalled} frames taken, none read"
    assert answers >= 5
