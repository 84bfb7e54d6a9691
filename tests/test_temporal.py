"""engine/temporal.py: flow-warped blending, occlusion masks, colour statistics, scene cuts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import pan_frames
from stylize.engine.errors import InvalidInputError
from stylize.engine.images import PixelMode, Pixels
from stylize.engine.temporal import (
    SequenceState,
    TemporalSettings,
    reliable_mask,
    warp,
    warping_error,
)


def _flickering(content: Pixels, seed: int) -> Pixels:
    """A stand-in for a per-frame stylization: the content plus texture and colour that
    change with every frame (what makes real per-frame results flicker)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 18, content.array.shape) + rng.normal(0, 10, 3)
    return Pixels(np.clip(content.array + noise, 0, 255).astype(np.uint8), content.mode)


def _mean_warping_error(frames: list[Pixels], outputs: list[Pixels]) -> float:
    errors = [
        warping_error(frames[i - 1], frames[i], outputs[i - 1], outputs[i])
        for i in range(1, len(frames))
    ]
    return float(np.mean(errors))


def _run(settings: TemporalSettings, frames: list[Pixels]) -> tuple[list[Pixels], list]:
    state = SequenceState(settings)
    outputs, reports = [], []
    for i, frame in enumerate(frames):
        out, report = state.step(frame, _flickering(frame, i))
        outputs.append(out)
        reports.append(report)
    return outputs, reports


def test_consistency_cuts_the_warping_error_of_a_flickering_sequence() -> None:
    frames = pan_frames(10)
    off, _ = _run(TemporalSettings(motion=0.0, colour=0.0), frames)
    on, reports = _run(TemporalSettings(), frames)
    assert _mean_warping_error(frames, on) < 0.6 * _mean_warping_error(frames, off)
    assert reports[0].scene_cut and not any(r.scene_cut for r in reports[1:])
    assert all(r.reliable > 0.5 for r in reports[1:])
    assert on[3].array.shape == frames[3].array.shape and on[3].array.dtype == np.uint8


def test_off_returns_the_stylized_frames_unchanged() -> None:
    frames = pan_frames(3)
    state = SequenceState(TemporalSettings(motion=0.0, colour=0.0))
    for i, frame in enumerate(frames):
        stylized = _flickering(frame, i)
        out, _ = state.step(frame, stylized)
        np.testing.assert_array_equal(out.array, stylized.array)


def test_a_scene_cut_resets_the_state() -> None:
    frames = pan_frames(4)
    other = Pixels(np.full_like(frames[0].array, 240), PixelMode.RGB)
    other.array[::4] = 10  # a different scene: bright with dark lines
    state = SequenceState()
    reports = [state.step(f, _flickering(f, i))[1] for i, f in enumerate(frames[:3])]
    out, report = state.step(other, other)
    assert report.scene_cut and report.reliable == 0.0 and state.cuts == 1
    np.testing.assert_array_equal(out.array, other.array)  # nothing of the previous shot
    assert not any(r.scene_cut for r in reports[1:])


@pytest.mark.parametrize("mode", [PixelMode.RGBA, PixelMode.GRAYA])
def test_alpha_passes_through_and_colour_is_stabilised(mode: PixelMode) -> None:
    frames = pan_frames(5)
    state = SequenceState(TemporalSettings(motion=0.0, colour=0.9))
    means = []
    for i, frame in enumerate(frames):
        colour = frame.array if mode is PixelMode.RGBA else frame.array[..., :1]
        alpha = np.full((*frame.array.shape[:2], 1), 100 + i, np.uint8)
        content = Pixels(np.concatenate([colour, alpha], axis=2), mode)
        brightness = 60 if i % 2 else -60  # the colours pump
        stylized = Pixels(
            np.concatenate(
                [np.clip(colour.astype(int) + brightness, 0, 255).astype(np.uint8), alpha],
                axis=2,
            ),
            mode,
        )
        out, _ = state.step(content, stylized)
        assert out.array.shape == content.array.shape
        assert (out.array[..., -1] == 100 + i).all()
        means.append(out.array[..., :-1].mean())
    assert max(np.abs(np.diff(means[1:]))) < 40  # unstabilised: about 120


def test_occlusion_mask_marks_pixels_whose_flows_disagree() -> None:
    backward = np.zeros((8, 8, 2), np.float32)
    backward[..., 0] = -2.0  # came from two pixels to the left
    forward = np.zeros((8, 8, 2), np.float32)
    forward[..., 0] = 2.0
    assert reliable_mask(backward, forward)[2:-2, 3:-2].all()
    forward[:, :4, 0] = -3.0  # the left half disagrees: occluded
    mask = reliable_mask(backward, forward)
    assert not mask[:, 2:5].any() and mask[:, 7].all()


def test_pixels_that_came_into_view_are_not_reliable() -> None:
    backward = np.zeros((8, 12, 2), np.float32)
    backward[..., 0] = 3.0  # the camera panned right: each pixel was 3 to the right
    forward = -backward
    mask = reliable_mask(backward, forward)
    assert mask[:, :8].all() and not mask[:, -3:].any()  # x + 3 beyond the last column


def test_warped_previous_is_the_previous_result_moved_with_the_content() -> None:
    frames = pan_frames(3, step=2)
    state = SequenceState(TemporalSettings(motion=0.0, colour=0.0))
    assert state.warped_previous(frames[0], state.look(frames[0], flow=True)) is None
    result = Pixels(255 - frames[0].array, PixelMode.RGB)  # a "painting" of frame 0
    state.step(frames[0], result)
    motion = state.look(frames[1], flow=True)
    start = state.warped_previous(frames[1], motion)
    assert start is not None and start.array.shape == frames[1].array.shape
    inner = start.array[4:-4, 4:-6].astype(np.int16)
    assert np.abs(inner - (255 - frames[1].array[4:-4, 4:-6])).mean() < 8
    assert state.frames == 1  # looking changes nothing


def test_warp_moves_an_image_by_the_flow() -> None:
    image = np.zeros((6, 6, 1), np.float32)
    image[2, 2] = 1.0
    flow = np.zeros((6, 6, 2), np.float32)
    flow[..., 0] = -1.0  # each pixel takes the value one to its left
    assert warp(image, flow)[2, 3, 0] == 1.0


@pytest.mark.parametrize("name", ["motion", "colour", "scene_cut"])
def test_settings_out_of_range_are_refused_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        TemporalSettings(**{name: 2.0}).check()
    assert caught.value.field == f"consistency.{name}"
    with pytest.raises(InvalidInputError):
        TemporalSettings(**{name: float("nan")}).check()
