"""`stylize apply` on clips: video with audio, animated GIF, a folder of frames (real daemon)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import SAMPLES
from PIL import Image
from stylize.client.cli import main

WIDTH, HEIGHT, FRAMES, RATE = 64, 48, 8, 8


def _pan_frames(count: int = FRAMES) -> list[np.ndarray]:
    photo = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((160, 120)))
    return [
        np.ascontiguousarray(photo[30 : 30 + HEIGHT, i * 3 : i * 3 + WIDTH]) for i in range(count)
    ]


def _make_clip(path: Path) -> list[bytes]:
    """An H.264 clip of a pan with an AAC sine tone; returns the audio packets' bytes."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = container.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for index, rgb in enumerate(_pan_frames()):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            for packet in video.encode(frame):
                container.mux(packet)
        samples = np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start : start + 1024][None, :]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)
    return _audio_packets(path)


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def _video_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_a_video_is_stylized_with_its_audio_copied(
    tmp_path: Path, daemon_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    clip, out = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    audio = _make_clip(clip)
    code = main(
        [
            "apply",
            str(clip),
            "--style",
            "starry_night",
            "-o",
            str(out),
            "--json",
            "--address",
            daemon_address,
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["frames"] == FRAMES and summary["audio"] is True
    frames = _video_frames(out)
    assert len(frames) == FRAMES and frames[0].shape == (HEIGHT, WIDTH, 3)
    assert np.abs(frames[3].astype(float) - _pan_frames()[3]).mean() > 10  # painted
    assert _audio_packets(out) == audio  # the same packets, not re-encoded
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == RATE


def test_an_animated_gif_stays_an_animation_with_its_timing(
    tmp_path: Path, daemon_address: str
) -> None:
    source, out = tmp_path / "in.gif", tmp_path / "out.gif"
    images = [Image.fromarray(f) for f in _pan_frames(5)]
    images[0].save(source, save_all=True, append_images=images[1:], duration=80, loop=0)
    code = main(
        [
            "apply",
            str(source),
            "-s",
            "starry_night",
            "-o",
            str(out),
            "-q",
            "--address",
            daemon_address,
        ]
    )
    assert code == 0
    with Image.open(out) as result:
        assert result.n_frames == 5 and result.size == (WIDTH, HEIGHT)
        assert result.info["duration"] == 80


def test_a_folder_of_frames_becomes_a_folder_of_stylized_frames_locally(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(_pan_frames(3)):
        Image.fromarray(frame).save(folder / f"f{index:03d}.png")
    out = tmp_path / "painted"
    code = main(
        [
            "apply",
            str(folder / "*.png"),
            "--sequence",
            "-s",
            "starry_night",
            "-o",
            str(out),
            "--local",
            "-q",
            "--consistency",
            "0.5",
        ]
    )
    assert code == 0
    written = sorted(out.glob("*.png"))
    assert [p.name for p in written] == [f"frame-{i:06d}.png" for i in (1, 2, 3)]
    assert Image.open(written[0]).size == (WIDTH, HEIGHT)


def test_a_clip_cannot_go_to_standard_output(tmp_path: Path, daemon_address: str) -> None:
    clip = tmp_path / "clip.mp4"
    _make_clip(clip)
    with pytest.raises(SystemExit) as caught:
        main(["apply", str(clip), "-s", "starry_night", "-o", "-", "--address", daemon_address])
    assert caught.value.code == 2


@pytest.mark.slow  # the daemon loads VGG19 for the optimisation method
def test_a_clip_can_be_optimised_frame_after_frame(tmp_path: Path, daemon_address: str) -> None:
    source, out = tmp_path / "in.gif", tmp_path / "out.gif"
    images = [Image.fromarray(f) for f in _pan_frames(3)]
    images[0].save(source, save_all=True, append_images=images[1:], duration=80, loop=0)
    args = ["apply", str(source), "-s", "starry_night", "-o", str(out), "-q"]
    args += ["--method", "optimize", "--iterations", "2", "--optimizer", "adam"]
    code = main([*args, "--scales", "64", "--address", daemon_address])
    assert code == 0
    with Image.open(out) as result:
        assert result.n_frames == 3 and result.size == (WIDTH, HEIGHT)


def test_save_every_is_refused_for_a_clip(tmp_path: Path, daemon_address: str) -> None:
    clip = tmp_path / "in.gif"
    images = [Image.fromarray(f) for f in _pan_frames(2)]
    images[0].save(clip, save_all=True, append_images=images[1:], duration=80, loop=0)
    args = ["apply", str(clip), "-s", "starry_night", "-o", str(tmp_path / "o.gif")]
    with pytest.raises(SystemExit) as caught:
        main([*args, "--method", "optimize", "--save-every", "1", "--address", daemon_address])
    assert caught.value.code == 2


def _gif(path: Path, count: int = 3) -> None:
    images = [Image.fromarray(f) for f in _pan_frames(count)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=80, loop=0)


def _gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as animation:
        return [
            np.asarray(animation.seek(i) or animation.convert("RGB"), np.float64)
            for i in range(animation.n_frames)
        ]


def test_masks_and_a_strength_map_apply_to_every_frame_of_a_clip(
    tmp_path: Path, daemon_address: str
) -> None:
    source = tmp_path / "in.gif"
    _gif(source)
    left = np.zeros((HEIGHT, WIDTH), np.uint8)
    left[:, : WIDTH // 2] = 255
    Image.fromarray(left).save(tmp_path / "left.png")
    Image.fromarray(255 - left).save(tmp_path / "right.png")
    base = ["apply", str(source), "-q", "--address", daemon_address, "--consistency", "0"]
    starry_left = ["-s", "starry_night", "--mask", str(tmp_path / "left.png")]
    runs = {
        "plain": ["-s", "starry_night"],
        "regions": [*starry_left, "-s", "great_wave", "--mask", str(tmp_path / "right.png")],
        "map": ["-s", "starry_night", "--strength-map", str(tmp_path / "left.png")],
    }
    out = {}
    for name, styles in runs.items():
        out[name] = tmp_path / f"{name}.gif"
        assert main([*base, *styles, "-o", str(out[name])]) == 0
    plain = _gif_frames(out["plain"])
    for name in ("regions", "map"):
        for frame, reference in zip(_gif_frames(out[name]), plain, strict=True):
            gap = np.abs(frame - reference)  # the left half keeps starry_night
            assert gap[:, WIDTH // 2 + 6 :].mean() > 1.5 * gap[:, : WIDTH // 2 - 6].mean()


def test_a_mask_of_another_aspect_than_the_clip_is_refused(
    tmp_path: Path, daemon_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.gif"
    _gif(source, 2)
    Image.new("L", (WIDTH, WIDTH * 2)).save(tmp_path / "tall.png")
    args = ["apply", str(source), "-s", "starry_night", "--mask", str(tmp_path / "tall.png")]
    code = main([*args, "-o", str(tmp_path / "o.gif"), "-q", "--address", daemon_address])
    assert code != 0
    assert "aspect" in capsys.readouterr().err
