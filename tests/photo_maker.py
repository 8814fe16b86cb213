"""Phone-like photos of inverter displays and nameplates, drawn with Pillow.

Shared by the photo tests and ``bench/photos.py``; no binary fixtures. The font is
Pillow's own scalable default (``ImageFont.load_default(size=…)``, Pillow ≥ 10.1), so
a fresh CI machine draws the same pixels without system fonts.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter, ImageFont


@dataclass(frozen=True, slots=True)
class Shot:
    """How hard a photo is to read."""

    rotation: float = 0.0  # degrees
    perspective: float = 0.0  # 0..0.15: how far one side is pushed in
    noise: float = 0.0  # standard deviation of pixel noise
    blur: float = 0.0  # Gaussian radius in pixels
    glare: float = 0.0  # 0..1: strength of a bright spot over the display
    scale: float = 1.0  # the display's size in the photo


LEVELS = {
    "easy": Shot(rotation=2, noise=4, blur=0.4),
    "medium": Shot(rotation=7, perspective=0.05, noise=10, blur=1.0, glare=0.25, scale=0.8),
    "hard": Shot(rotation=15, perspective=0.12, noise=24, blur=2.2, glare=0.6, scale=0.45),
}


_UMLAUTS = str.maketrans({"Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans where the machine has it (umlauts), else Pillow's built-in font."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def _drawable(text: str, chosen: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """Pillow's built-in font has no umlauts: spell them out as many displays do."""
    return text if "DejaVu" in str(getattr(chosen, "path", "")) else text.translate(_UMLAUTS)


def display_photo(lines: list[str], shot: Shot = Shot(), seed: int = 0, fmt: str = "JPEG") -> bytes:
    """A photo of an LCD showing ``lines`` (the first one large), in a grey housing."""
    rng = random.Random(seed)
    width, height = 720, 120 + 90 * len(lines)
    lcd = Image.new("RGB", (width, height), (rng.randint(150, 185), rng.randint(195, 225), rng.randint(120, 150)))
    draw = ImageDraw.Draw(lcd)
    y = 40
    for number, line in enumerate(lines):
        size = 64 if number == 0 else 46
        chosen = font(size)
        draw.text((40, y), _drawable(line, chosen), font=chosen, fill=(20, 30, 25))
        y += size + 34
    return _photograph(lcd, shot, rng, fmt)


def nameplate_photo(lines: list[str], shot: Shot = Shot(), seed: int = 0) -> bytes:
    """A silver nameplate with black print."""
    rng = random.Random(seed)
    plate = Image.new("RGB", (760, 80 + 60 * len(lines)), (212, 214, 218))
    draw = ImageDraw.Draw(plate)
    for number, line in enumerate(lines):
        chosen = font(42 if number == 0 else 34)
        draw.text((36, 36 + 60 * number), _drawable(line, chosen), font=chosen, fill=(15, 15, 20))
    return _photograph(plate, shot, rng, "JPEG")


def _photograph(subject: Image.Image, shot: Shot, rng: random.Random, fmt: str) -> bytes:
    if shot.scale != 1.0:
        subject = subject.resize((int(subject.width * shot.scale), int(subject.height * shot.scale)))
    housing = Image.new("RGB", (subject.width + 160, subject.height + 160), (88, 90, 94))
    housing.paste(subject, (80, 80))
    if shot.perspective:
        housing = _perspective(housing, shot.perspective)
    photo = housing.rotate(
        shot.rotation * rng.choice((-1, 1)), expand=True, fillcolor=(70, 64, 60), resample=Image.Resampling.BICUBIC
    )
    if shot.glare:
        photo = _glare(photo, shot.glare, rng)
    if shot.blur:
        photo = photo.filter(ImageFilter.GaussianBlur(shot.blur))
    if shot.noise:
        noise = Image.effect_noise(photo.size, shot.noise).convert("RGB")
        photo = Image.blend(photo, Image.merge("RGB", [noise.getchannel(0)] * 3), 0.18)
    out = io.BytesIO()
    photo.save(out, fmt, **({"quality": 82} if fmt == "JPEG" else {}))
    return out.getvalue()


def _perspective(image: Image.Image, amount: float) -> Image.Image:
    """The right side pushed in by ``amount``: a display seen from the left."""
    w, h = image.size
    d = amount * h
    # source quad for each output corner: top-left, bottom-left, bottom-right, top-right
    quad = (0, 0, 0, h, w, h + d, w, -d)
    return image.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC, fillcolor=(70, 64, 60))


def _glare(image: Image.Image, strength: float, rng: random.Random) -> Image.Image:
    w, h = image.size
    spot = Image.new("L", (w, h), 0)
    cx, cy, r = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h, 0.25 * min(w, h)
    ImageDraw.Draw(spot).ellipse((cx - r, cy - r, cx + r, cy + r), fill=int(255 * strength))
    spot = spot.filter(ImageFilter.GaussianBlur(r / 2))
    return Image.composite(Image.new("RGB", (w, h), (255, 255, 250)), image, spot)
