"""Make the README's pictures with Stylize itself: .venv/bin/python scripts/doc_images.py

With ``--photo PHOTO`` (a large real photo; BENCHMARKS.md names the CC0 one used and
where it comes from) it makes the stroke-scale and colour-option figures instead.
"""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from stylize.engine import images
from stylize.engine.regions import RegionStyle, StyleRegions
from stylize.engine.stroke_scale import MIN_STROKE_SCALE, STROKE_REFERENCE_SIDE
from stylize.engine.style_cache import StyleVectorCache
from stylize.engine.style_engine import StyleEngine, StylizeOptions
from stylize.engine.style_mixing import mix, with_strength
from stylize.jobs import job as jobs
from stylize.jobs.method import Controls
from stylize.jobs.methods import registered_methods
from stylize.jobs.resources import Engines
from stylize.jobs.run import run_job
from stylize.jobs.style_library import StyleLibrary

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "daemon" / "stylize" / "samples"
OUT = REPO / "docs" / "images"
TILE = 320
STYLES = ("starry_night", "great_wave", "shipwreck", "dance_foyer")


def contact_sheet(tiles: list[tuple[str, Image.Image]], tile: int) -> Image.Image:
    sheet = Image.new("RGB", (len(tiles) * (tile + 6) + 6, tile + 30), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, image) in enumerate(tiles):
        x = 6 + index * (tile + 6)
        sheet.paste(image.resize((tile, tile), Image.Resampling.LANCZOS), (x, 24))
        draw.text((x + 2, 6), label, fill="black")
    return sheet


def square(image: Image.Image) -> Image.Image:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photo", type=Path, help="make the stroke-scale figures from this")
    parser.add_argument("--video-strip", action="store_true", help="make video-strip.jpg")
    args = parser.parse_args()
    if args.video_strip:
        video_strip()
    elif args.photo:
        stroke_figures(args.photo)
    else:
        bundled_figures()


def bundled_figures() -> None:
    engine = StyleEngine()
    limits = images.ImageLimits()
    content = images.decode((SAMPLES / "astronaut.jpg").read_bytes(), limits, "content")
    style_files = {name: SAMPLES / "styles" / f"{name}.jpg" for name in STYLES}
    vectors = {
        name: engine.style_vector(images.decode(path.read_bytes(), limits, name))
        for name, path in style_files.items()
    }
    own = engine.style_vector(content)
    tiles = [
        ("photo", content.to_pil()),
        ("starry night", engine.stylize(content, vectors["starry_night"]).to_pil()),
        ("great wave", engine.stylize(content, vectors["great_wave"]).to_pil()),
        (
            "50/50 mix",
            engine.stylize(
                content, mix([vectors["starry_night"], vectors["great_wave"]], [1, 1])
            ).to_pil(),
        ),
        (
            "starry night, strength 0.5",
            engine.stylize(content, with_strength(vectors["starry_night"], own, 0.5)).to_pil(),
        ),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    contact_sheet(tiles, TILE).save(OUT / "before-after.jpg", quality=85)
    styles = [(name, square(Image.open(path).convert("RGB"))) for name, path in style_files.items()]
    contact_sheet(styles, TILE // 2).save(OUT / "bundled-styles.jpg", quality=85)
    regions_figure(engine, content, vectors["starry_night"], vectors["great_wave"], own)
    print(f"wrote {OUT}/before-after.jpg, bundled-styles.jpg and regions.jpg")


def regions_figure(
    engine: StyleEngine, content: images.Pixels, left: np.ndarray, right: np.ndarray,
    own: np.ndarray,
) -> None:  # fmt: skip
    """Two styles on two halves (hard and soft masks), a strength map, and the hard
    composite of two separate runs, with 100 % crops across the boundary."""
    height, width = content.height, content.width
    x = np.arange(width, dtype=np.float32)[None, :].repeat(height, axis=0)
    hard = (x < width / 2).astype(np.float32)
    soft = np.clip((width * 0.65 - x) / (width * 0.3), 0.0, 1.0)
    y = np.arange(height, dtype=np.float32)[:, None].repeat(width, axis=1)
    centre = np.hypot(x - width / 2, y - height / 2) / (0.5 * np.hypot(width, height))
    fade = np.clip(1.3 - 1.6 * centre, 0.0, 1.0)

    def two(mask: np.ndarray) -> images.Pixels:
        styles = [RegionStyle(left, 1.0, mask), RegionStyle(right, 1.0, 1.0 - mask)]
        return engine.stylize(content, StyleRegions(styles, content_vector=own))

    apart = [engine.stylize(content, v).array for v in (left, right)]
    composite = np.where(hard[..., None] > 0.5, apart[0], apart[1]).astype(np.uint8)
    faded = engine.stylize(
        content, StyleRegions([RegionStyle(left)], strength_map=fade, content_vector=own)
    )
    panels = [
        ("regions, hard mask", two(hard).to_pil()),
        ("regions, soft mask", two(soft).to_pil()),
        ("strength map (centre)", faded.to_pil()),
        ("two runs pasted", Image.fromarray(composite)),
    ]
    boundary = (width // 2 - 64, height // 2 - 64, width // 2 + 64, height // 2 + 64)
    tiles = [(label, image) for label, image in panels]
    tiles += [(f"{label}, 100 %", image.crop(boundary)) for label, image in panels[::3]]
    contact_sheet(tiles, TILE).save(OUT / "regions.jpg", quality=85)


# -- stroke scale and colour options, on a large photo ------------------------------------

PANEL = (560, 315)  # one picture in a figure: a full view scaled down, or a 100 % crop
CROP = (0.36, 0.27)  # the crop's top-left corner, as a fraction of the photo (an edge)


def labelled(
    panels: list[list[tuple[str, Image.Image]]], size: tuple[int, int] = PANEL
) -> Image.Image:
    """Rows of equally sized panels, each with its label above."""
    width, height = size
    columns = max(len(row) for row in panels)
    sheet = Image.new("RGB", (columns * (width + 6) + 6, len(panels) * (height + 24) + 6), "white")
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(panels):
        for c, (label, image) in enumerate(row):
            x, y = 6 + c * (width + 6), 6 + r * (height + 24)
            draw.text((x + 2, y), label, fill="black")
            sheet.paste(image, (x, y + 18))
    return sheet


def save_jpeg(image: Image.Image, path: Path, limit: int = 390_000) -> None:
    """As JPEG, at the best quality that keeps the file under ``limit`` bytes."""
    for quality in range(88, 40, -4):
        stream = io.BytesIO()
        image.save(stream, "JPEG", quality=quality, optimize=True)
        if stream.tell() <= limit:
            break
    path.write_bytes(stream.getvalue())


def figure(columns: list[tuple[str, Image.Image]], name: str, prefix: str = "") -> None:
    """Full views above, 100 % crops of the same place below, one column per picture."""
    rows = [
        [(prefix + label, full_view(image)) for label, image in columns],
        [(f"{prefix}{label}, 100 %", crop_100(image)) for label, image in columns],
    ]
    save_jpeg(labelled(rows), OUT / name)


def full_view(image: Image.Image) -> Image.Image:
    return image.resize(PANEL, Image.Resampling.LANCZOS)


def crop_100(image: Image.Image) -> Image.Image:
    """The same part of the picture at 100 %, whatever its size."""
    left, top = round(image.width * CROP[0]), round(image.height * CROP[1])
    return image.crop((left, top, left + PANEL[0], top + PANEL[1]))


def photo_at(photo: Path, megapixels: float) -> images.Pixels:
    with Image.open(photo) as image:
        scale = math.sqrt(megapixels * 1e6 / (image.width * image.height))
        size = (round(image.width * scale), round(image.height * scale))
        rgb = np.asarray(image.convert("RGB").resize(size, Image.Resampling.LANCZOS))
    return images.Pixels(rgb, images.PixelMode.RGB)


def stroke_figures(photo: Path) -> None:
    engine = StyleEngine()
    style = images.decode(
        (SAMPLES / "styles" / "starry_night.jpg").read_bytes(), images.ImageLimits(), "style"
    )
    vector = engine.style_vector(style)

    def at(content: images.Pixels, working_side: float) -> Image.Image:
        scale = STROKE_REFERENCE_SIDE / working_side
        return engine.stylize(content, vector, StylizeOptions(stroke_scale=scale)).to_pil()

    content = photo_at(photo, 12)
    full = engine.stylize(content, vector, StylizeOptions(stroke_scale=MIN_STROKE_SCALE))
    small = images.Pixels(np.asarray(content.to_pil().resize(
        (512, round(512 * content.height / content.width)), Image.Resampling.LANCZOS
    )), images.PixelMode.RGB)  # fmt: skip
    upscaled = engine.stylize(small, vector).to_pil().resize(
        (content.width, content.height), Image.Resampling.LANCZOS
    )  # fmt: skip
    default = at(content, STROKE_REFERENCE_SIDE)
    size = f"{content.width}x{content.height}"
    columns = [
        (f"full resolution ({size})", full.to_pil()),
        ("stylized at 512 px, scaled up", upscaled),
        ("stroke scale 1 (default): 1024 px + guided upsampling", default),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    figure(columns, "stroke-scale.jpg")
    choices = [(f"{side} px", at(content, side)) for side in (512, 768, 1536)]
    choices.insert(2, ("1024 px (the default)", default))
    figure(choices, "stroke-scale-choice.jpg")
    sizes = [(f"{mp} MP", at(photo_at(photo, mp), STROKE_REFERENCE_SIDE)) for mp in (1, 24)]
    sizes.insert(1, ("12 MP", default))
    figure(sizes, "stroke-scale-sizes.jpg", prefix="default, ")
    colour_figure(engine, content)
    print(f"wrote {OUT}/stroke-scale.jpg, stroke-scale-choice.jpg, stroke-scale-sizes.jpg, "
          "colour-options.jpg")  # fmt: skip


def colour_figure(engine: StyleEngine, content: images.Pixels) -> None:
    """The colour options side by side, through the daemon's job code (jobs/run.py)."""
    resolver = Engines(
        engine,
        StyleLibrary(),
        StyleVectorCache(),
        images.ImageLimits(max_pixels=1 << 30),
        registered_methods(),
    )
    source = jobs.RawSource(content.array.tobytes(), content.width, content.height, content.mode)
    style = (jobs.WeightedStyle(jobs.NamedSource("starry_night"), 1.0),)
    options = [
        ("none", StylizeOptions(), jobs.ColourMatch.NONE),
        ("preserve colours", StylizeOptions(preserve_colors=True), jobs.ColourMatch.NONE),
        ("colour match: content", StylizeOptions(), jobs.ColourMatch.CONTENT),
        ("colour match: style", StylizeOptions(), jobs.ColourMatch.STYLE),
    ]
    panels = []
    for label, stylize_options, match in options:
        job = jobs.StylizeJob(source, style, options=stylize_options, colour_match=match)
        result = run_job(resolver, job, lambda _: None, Controls(cancelled=lambda: False))
        panels.append((label, result.pixels.to_pil()))
    figure(panels, "colour-options.jpg")


# -- moving pictures -------------------------------------------------------------------

STRIP_FRAME = (256, 144)  # one frame of the strip (16:9)


def video_strip(first: int = 12, count: int = 5) -> None:
    """Consecutive frames of a pan across astronaut.jpg (public domain, shipped sample),
    stylized frame by frame and as a consistent sequence (jobs/sequence.py, default
    settings), each row over its change from the previous result moved with the motion
    (|frame - warped previous|, x3): what flickers is bright there."""
    from stylize.engine.temporal import TemporalSettings, flow_between, warp
    from stylize.jobs.sequence import SequenceRun

    resolver = Engines(
        StyleEngine(), StyleLibrary(), StyleVectorCache(), images.ImageLimits(),
        registered_methods(),
    )  # fmt: skip
    width, height = STRIP_FRAME
    photo = Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((2 * width, 2 * width))
    band = np.asarray(photo)[width // 2 : width // 2 + height]
    clip = [
        images.Pixels(np.ascontiguousarray(band[:, 6 * i : 6 * i + width]), images.PixelMode.RGB)
        for i in range(first + count)
    ]
    job = jobs.StylizeJob(
        jobs.PENDING_FRAME, (jobs.WeightedStyle(jobs.NamedSource("starry_night"), 1.0),)
    )
    rows = []
    for label, settings in (
        ("frame by frame", TemporalSettings(motion=0.0, colour=0.0)),
        ("consistent (default)", TemporalSettings()),
    ):
        with SequenceRun(resolver, job, settings) as run:
            results = [run.frame(frame) for frame in clip]
        frames, changes = [], []
        for index in range(first, first + count):
            flow = flow_between(clip[index - 1], clip[index])
            moved = warp(results[index - 1].array.astype(np.float32), flow)
            change = np.abs(results[index].array - moved).mean(axis=2) * 3
            frames.append((f"{label}, frame {index}", results[index].to_pil()))
            changes.append(
                (
                    "change from the previous",
                    Image.fromarray(change.clip(0, 255).astype(np.uint8)).convert("RGB"),
                )
            )
        rows += [frames, changes]
    save_jpeg(labelled(rows, STRIP_FRAME), OUT / "video-strip.jpg", limit=300_000)
    print(f"wrote {OUT}/video-strip.jpg")


if __name__ == "__main__":
    main()
