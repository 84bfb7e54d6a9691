"""Temporal consistency for sequences of frames stylized one by one (video, animations).

Stylizing each frame on its own flickers: the network's fine texture and its
instance-norm statistics change from frame to frame, so strokes crawl and colours pump.
Two cheap remedies, applied to the fast method's output with a :class:`SequenceState`
that the caller keeps per sequence:

* **Motion** (short-term consistency after Ruder, Dosovitskiy & Brox, "Artistic style
  transfer for videos", 2016): optical flow between consecutive *content* frames (OpenCV's
  DIS flow, Kroeger et al. 2016), the previous *result* warped to the current frame, and
  blended into the current stylized frame where a forward-backward consistency check says
  the flow is reliable (not occluded, not a motion boundary). Ruder et al. start each
  frame's optimisation from the warped previous result (:meth:`SequenceState.warped_previous`,
  used by the optimisation method's sequences) and add a temporal loss; a feed-forward
  network has neither, so we blend its output instead: the same mask (their
  Eq. 6-7 thresholds), weight ``motion`` where reliable, nothing elsewhere. Because the
  blended result becomes the next frame's "previous", this is an exponential filter along
  motion trajectories: strokes stay on the surfaces they paint.
* **Colour statistics**: a running estimate (exponential moving average) of the stylized
  frames' per-channel mean and standard deviation, and each frame matched towards it, so
  global colour and contrast do not pump. Issue 20 asks for the network's instance-norm
  statistics to follow a running estimate; the network's internals are being changed for
  per-pixel regions (engine/transformer_network.py), so this is done on the output, where
  it needs no graph change. The effect on flicker is similar for global colour; texture
  statistics inside the network are left per frame.

Scene cuts (a large histogram distance between consecutive content frames, or too few
pixels with reliable flow) reset both, so a cut is not smeared with the previous shot.

Pure numpy/OpenCV, no gRPC, no jobs. Frames of one sequence must keep one size and mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from stylize.engine.errors import InvalidInputError
from stylize.engine.images import Pixels, from_unit, to_unit

# Flow is computed on the grey content at most this long side (larger frames are reduced
# first and the flow scaled back): DIS at 640 px costs a few ms on a 2-core CPU.
FLOW_SIDE = 640
# Ruder et al. 2016, Eq. 6-7 (in pixels of the flow's resolution).
_CONSISTENCY = (0.01, 0.5)  # |w + w^|^2 > a (|w|^2 + |w^|^2) + b: disoccluded
_MOTION_EDGE = (0.01, 0.002)  # |grad u|^2 + |grad v|^2 > a |w^|^2 + b: motion boundary
_HIST_BINS = 32


@dataclass(frozen=True)
class TemporalSettings:
    """How much a frame takes from its predecessors; 0 turns each remedy off.

    ``motion``: weight of the flow-warped previous result where the flow is reliable
    (0..0.95). 0.8 cuts the per-frame warping error by at least half on both of our clips
    (BENCHMARKS.md "Moving pictures"; 0.6 by 40-50 %); each frame still brings in a fifth
    of its own texture, and newly revealed areas (occluded in the previous frame) are its
    own alone, so new content shows at once and changes settle within a few frames.
    ``colour``: momentum of the running colour statistics (0..0.99); 0.9 follows a
    change of lighting within about ten frames.
    ``scene_cut``: Bhattacharyya distance between consecutive frames' grey histograms
    (0..1) above which the state resets; 0.5 ignores camera motion and lighting drift.
    ``min_reliable``: below this fraction of reliable pixels the flow is not trusted at
    all and the state resets (a cut the histograms missed).
    """

    motion: float = 0.8
    colour: float = 0.9
    scene_cut: float = 0.5
    min_reliable: float = 0.2

    def check(self) -> None:
        for name, value, high in (
            ("motion", self.motion, 0.95),
            ("colour", self.colour, 0.99),
            ("scene_cut", self.scene_cut, 1.0),
            ("min_reliable", self.min_reliable, 1.0),
        ):
            if not 0.0 <= value <= high:  # also refuses NaN
                raise InvalidInputError(
                    f"consistency.{name} is {value}; it must be between 0 and {high}",
                    field=f"consistency.{name}",
                )

    @property
    def off(self) -> bool:
        return self.motion == 0.0 and self.colour == 0.0


@dataclass(frozen=True)
class FrameReport:
    """What the consistency step did with one frame."""

    index: int  # 0-based within the sequence
    scene_cut: bool  # the state was reset before this frame (always true for frame 0)
    reliable: float  # fraction of pixels that took the warped previous result (0..1)


@dataclass(frozen=True)
class Motion:
    """How one frame follows the previous one (:meth:`SequenceState.look`)."""

    grey: np.ndarray  # the frame's grey content at the flow's size
    hist: np.ndarray  # its grey histogram
    cut: bool  # the state resets at this frame (first frame, scene cut, unreliable flow)
    reliable: float = 0.0  # fraction of pixels whose flow is reliable
    mask: np.ndarray | None = None  # 1 where reliable, at the flow's size (None: no flow)
    backward: np.ndarray | None = None  # flow this frame -> the previous, flow's size


@dataclass
class SequenceState:
    """What one sequence remembers between frames (kept by the caller, one per sequence)."""

    settings: TemporalSettings = field(default_factory=TemporalSettings)
    frames: int = 0
    cuts: int = 0
    _grey: np.ndarray | None = None  # previous content, grey uint8 at the flow's size
    _hist: np.ndarray | None = None
    _result: np.ndarray | None = None  # previous output's colour channels, float32 0..1
    _mean: np.ndarray | None = None  # running colour statistics of the stylized frames
    _std: np.ndarray | None = None
    _flow: cv2.DISOpticalFlow | None = None

    def reset(self) -> None:
        self._grey = self._hist = self._result = self._mean = self._std = None

    def state_bytes(self, width: int, height: int, channels: int = 3) -> int:
        """Memory the state holds between frames of that size (result + grey), for budgets."""
        scale = min(1.0, FLOW_SIDE / max(width, height))
        grey = int(width * scale + 1) * int(height * scale + 1)
        return width * height * channels * 4 + grey + _HIST_BINS * 4

    def look(self, content: Pixels, flow: bool = False) -> Motion:
        """How ``content`` follows the previous frame: a scene cut, or the reliable flow.

        The flow is computed when the motion blend needs it, or ``flow`` asks for it (the
        optimisation method starts each frame from :meth:`warped_previous`). Changes no
        state: :meth:`step` takes the same Motion.
        """
        settings = self.settings
        grey = _grey_for_flow(content)
        hist = _histogram(grey)
        cut = self._grey is None or self._grey.shape != grey.shape
        if not cut and settings.scene_cut < 1.0:
            assert self._hist is not None
            distance = cv2.compareHist(self._hist, hist, cv2.HISTCMP_BHATTACHARYYA)
            cut = distance > settings.scene_cut
        if cut or self._result is None or not (flow or settings.motion > 0.0):
            return Motion(grey, hist, cut)
        assert self._grey is not None
        backward, forward = self._flows(grey, self._grey)
        mask = reliable_mask(backward, forward)
        reliable = float(cv2.mean(mask)[0])
        if reliable < settings.min_reliable:
            return Motion(grey, hist, True, reliable)
        return Motion(grey, hist, False, reliable, mask, backward)

    def warped_previous(self, content: Pixels, motion: Motion) -> Pixels | None:
        """The previous result warped to ``content`` where the flow is reliable, the content
        itself elsewhere (occluded, motion boundaries); None at a cut or the first frame.

        Ruder et al. 2016's initialisation for the optimisation method: each frame starts
        from the warped previous result. ``content``'s size, mode and alpha.
        """
        if motion.mask is None or motion.backward is None or self._result is None:
            return None
        colour = _colour_channels(content)
        own = to_unit(colour).astype(np.float32)
        warped = warp(self._result, _full_size(motion.backward, own.shape[:2]))
        weight = _full_size_mask(motion.mask, own.shape[:2])
        own += weight[..., None] * (warped - own)
        array = content.array.copy()
        array[..., : colour.shape[2]] = from_unit(own, content.depth)
        return Pixels(array, content.mode)

    def step(
        self, content: Pixels, stylized: Pixels, motion: Motion | None = None
    ) -> tuple[Pixels, FrameReport]:
        """The consistent version of ``stylized`` (the network's output for ``content``);
        ``motion``: :meth:`look` at ``content`` if the caller already did."""
        motion = motion or self.look(content)
        index = self.frames
        self.frames += 1
        settings = self.settings
        colour = _colour_channels(stylized)
        out = to_unit(colour).astype(np.float32, copy=True)
        if motion.cut:
            self.cuts += index > 0
            self.reset()
        if settings.colour > 0.0:
            out = self._stabilise_colour(out)
        mask, backward = motion.mask, motion.backward
        if settings.motion > 0.0 and mask is not None and backward is not None:
            assert self._result is not None
            warped = warp(self._result, _full_size(backward, out.shape[:2]))
            weight = _full_size_mask(mask, out.shape[:2]) * np.float32(settings.motion)
            out += weight[..., None] * (warped - out)
        reliable = motion.reliable if settings.motion > 0.0 else 0.0
        self._grey, self._hist, self._result = motion.grey, motion.hist, out
        result = stylized.array.copy()
        result[..., : colour.shape[2]] = from_unit(out, stylized.depth)
        return Pixels(result, stylized.mode), FrameReport(index, motion.cut, reliable)

    def _flows(self, grey: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._flow is None:
            self._flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        # backward: current -> previous (where each current pixel was); forward: the reverse.
        backward = self._flow.calc(grey, previous, None)  # type: ignore[call-overload]
        forward = self._flow.calc(previous, grey, None)  # type: ignore[call-overload]
        return np.asarray(backward), np.asarray(forward)

    def _stabilise_colour(self, out: np.ndarray) -> np.ndarray:
        """Match the frame's per-channel mean/std to the running estimate (EMA)."""
        mean, std = (v.ravel().astype(np.float32) for v in cv2.meanStdDev(out))  # one pass
        if self._mean is None or self._std is None:
            self._mean, self._std = mean, std
            return out
        momentum = np.float32(self.settings.colour)
        self._mean = momentum * self._mean + (1 - momentum) * mean
        self._std = momentum * self._std + (1 - momentum) * std
        gain = self._std / np.maximum(std, 1e-4)
        channels = out.shape[2]
        affine = np.zeros((channels, channels + 1), np.float32)  # (x - mean) * gain + _mean
        affine[np.arange(channels), np.arange(channels)] = gain
        affine[:, channels] = self._mean - mean * gain
        return cv2.transform(out, affine).reshape(out.shape)  # one pass over the frame


def reliable_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """1 where the backward flow (current -> previous) is trustworthy, else 0 (float32).

    Ruder et al. 2016: disoccluded where the backward flow and the forward flow at the
    point it lands on do not cancel, and motion boundaries where the flow's gradient is
    large. Both in the flow's own pixel units. Also pixels whose flow leads out of the
    previous frame (they came into view at its edge: nothing to take from it).
    """
    forward_there = warp(forward, backward)
    bx, by = backward[..., 0], backward[..., 1]
    fx, fy = forward_there[..., 0], forward_there[..., 1]
    # per-channel arithmetic: numpy's sum over a last axis of 2 is several times slower
    backward_sq = bx * bx + by * by
    mismatch = (bx + fx) ** 2 + (by + fy) ** 2
    occluded = mismatch > _CONSISTENCY[0] * (backward_sq + fx * fx + fy * fy) + _CONSISTENCY[1]
    gradient = np.zeros_like(bx)
    for channel in (bx, by):  # |grad u|^2 + |grad v|^2, central differences
        gradient += cv2.Sobel(channel, cv2.CV_32F, 1, 0, ksize=1, scale=0.5) ** 2
        gradient += cv2.Sobel(channel, cv2.CV_32F, 0, 1, ksize=1, scale=0.5) ** 2
    edge = gradient > _MOTION_EDGE[0] * backward_sq + _MOTION_EDGE[1]
    height, width = bx.shape
    xs, ys = _grid(width, height)
    x, y = xs + bx, ys + by
    outside = (x < 0) | (x > width - 1) | (y < 0) | (y > height - 1)  # came into view
    return (~(occluded | edge | outside)).astype(np.float32)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at x + flow(x) (bilinear; outside the frame: the nearest edge)."""
    height, width = flow.shape[:2]
    xs, ys = _grid(width, height)
    warped = cv2.remap(
        image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, None, cv2.BORDER_REPLICATE
    )
    return warped.reshape(image.shape)


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's x and y (float32)."""
    return np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))


def flow_between(previous: Pixels, current: Pixels) -> np.ndarray:
    """DIS flow current -> previous at full size (for measurements: engine's own choice)."""
    grey_prev, grey_cur = _grey_for_flow(previous), _grey_for_flow(current)
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(grey_cur, grey_prev, None)  # type: ignore[call-overload]
    return _full_size(np.asarray(flow), (current.height, current.width))


def warping_error(
    previous_content: Pixels,
    content: Pixels,
    previous_result: Pixels,
    result: Pixels,
) -> float:
    """Lai et al. 2018's warping error, as a mean absolute difference in 0..255 units.

    The previous result is warped to the current frame by the flow between the *content*
    frames (Farnebäck's, not the DIS flow the blend uses, so the measure does not simply
    reward agreeing with itself), and compared with the current result over pixels the
    forward-backward check calls non-occluded.
    """
    prev_grey, grey = _grey_for_flow(previous_content), _grey_for_flow(content)

    def farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)

    backward, forward = farneback(grey, prev_grey), farneback(prev_grey, grey)
    shape = (content.height, content.width)
    mask = _full_size_mask(reliable_mask(backward, forward), shape) > 0.5
    if not mask.any():
        return 0.0
    before = to_unit(_colour_channels(previous_result)).astype(np.float32)
    now = to_unit(_colour_channels(result)).astype(np.float32)
    warped = warp(before, _full_size(backward, shape))
    return float(np.abs(warped - now)[mask].mean() * 255.0)


def _colour_channels(pixels: Pixels) -> np.ndarray:
    return pixels.array[..., :1] if pixels.mode.is_gray else pixels.array[..., :3]


def _grey_for_flow(pixels: Pixels) -> np.ndarray:
    rgb = pixels.to_8bit().rgb()
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    scale = FLOW_SIDE / max(pixels.width, pixels.height)
    if scale < 1.0:
        size = (max(8, round(pixels.width * scale)), max(8, round(pixels.height * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey


def _histogram(grey: np.ndarray) -> np.ndarray:
    hist = cv2.calcHist([grey], [0], None, [_HIST_BINS], [0, 256])
    return cv2.normalize(hist, hist, 1.0, 0.0, cv2.NORM_L1)


def _full_size(flow: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A flow computed at a reduced size, resized and rescaled to ``shape`` (h, w)."""
    height, width = shape[:2]
    if flow.shape[:2] == (height, width):
        return flow
    scaled = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    scaled[..., 0] *= width / flow.shape[1]
    scaled[..., 1] *= height / flow.shape[0]
    return scaled


def _full_size_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The mask at ``shape``, its edges softened over a few pixels (no visible seams)."""
    height, width = shape[:2]
    soft = cv2.GaussianBlur(mask, (5, 5), 0)
    if soft.shape != (height, width):
        soft = cv2.resize(soft, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.minimum(soft, mask if mask.shape == (height, width) else soft)
