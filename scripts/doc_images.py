"""Make the README's pictures with Stylize itself: .venv/bin/python scripts/doc_images.py"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw
from stylize.engine import images
from stylize.engine.style_engine import StyleEngine
from stylize.engine.style_mixing import mix, with_strength

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
    print(f"wrote {OUT}/before-after.jpg and bundled-styles.jpg")


if __name__ == "__main__":
    main()
