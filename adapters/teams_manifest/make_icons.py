"""Draw the Teams app icons (ours, committed): ``color.png`` 192×192 and ``outline.png`` 32×32.

Run once after changing the design: ``python adapters/teams_manifest/make_icons.py``.
Teams wants the outline icon white on a transparent background.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
BLUE = (32, 84, 147, 255)
WHITE = (255, 255, 255, 255)


def nik_mark(
    size: int, foreground: tuple[int, int, int, int], background: tuple[int, int, int, int] | None
) -> Image.Image:
    """A rounded square (or nothing) with an open book and a spark: manuals that answer."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    unit = size / 32
    if background is not None:
        draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=round(6 * unit), fill=background)
    width = max(1, round(1.6 * unit))
    left = [(4 * unit, 10 * unit), (15 * unit, 12 * unit), (15 * unit, 27 * unit), (4 * unit, 25 * unit)]
    right = [(17 * unit, 12 * unit), (28 * unit, 10 * unit), (28 * unit, 25 * unit), (17 * unit, 27 * unit)]
    draw.line([*left, left[0]], fill=foreground, width=width, joint="curve")
    draw.line([*right, right[0]], fill=foreground, width=width, joint="curve")
    for row in (16, 19, 22):
        draw.line(
            [(7 * unit, row * unit), (12.5 * unit, (row + 0.7) * unit)], fill=foreground, width=max(1, width // 2)
        )
        draw.line(
            [(19.5 * unit, (row + 0.7) * unit), (25 * unit, row * unit)], fill=foreground, width=max(1, width // 2)
        )
    spark = [
        (16 * unit, 2 * unit),
        (17.3 * unit, 5.2 * unit),
        (20.5 * unit, 6.5 * unit),
        (17.3 * unit, 7.8 * unit),
        (16 * unit, 11 * unit),
        (14.7 * unit, 7.8 * unit),
        (11.5 * unit, 6.5 * unit),
        (14.7 * unit, 5.2 * unit),
    ]
    draw.polygon(spark, fill=foreground)
    return image


def main() -> None:
    nik_mark(192, WHITE, BLUE).save(HERE / "color.png", optimize=True)
    nik_mark(32, WHITE, None).save(HERE / "outline.png", optimize=True)


if __name__ == "__main__":
    main()
