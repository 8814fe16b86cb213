"""bot.photos.intake: what the pipeline refuses, what it strips, and where photos are kept.

Every image is generated here with Pillow (or written byte by byte): no fixtures on disk."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.core.messages import ImageInput
from bot.errors import PhotoRejected
from bot.photos.intake import BOMB, BROKEN, HEIC, MAX_SIDE, NOT_AN_IMAGE, PhotoIntake, PhotoStore, sanitize
from photo_maker import display_photo
from storage.store import ChatKey, utc_now

LIMIT = 20 * 1024 * 1024
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg(width: int, height: int, **save: object) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, width // 4, height))  # a blue left edge: shows the rotation
    out = io.BytesIO()
    image.save(out, "JPEG", **save)
    return out.getvalue()


def gps_jpeg() -> bytes:
    """A landscape JPEG taken with the phone turned (orientation 6) at a GPS position."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 8.0, 30.0), 3: "E", 4: (11.0, 34.0, 12.0)})
    return jpeg(400, 200, exif=exif.tobytes())


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 20_000) -> bytes:
    """A valid 1-bit PNG of ``side``² pixels: ~50 MB of zeros compressed to a few dozen KB."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + side // 8)
    body = b"".join(compressor.compress(row * 1000) for _ in range(side // 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def refused(data: bytes, max_bytes: int = LIMIT) -> str:
    with pytest.raises(PhotoRejected) as caught:
        sanitize(ImageInput(data, "image/jpeg"), max_bytes)
    return str(caught.value)


def test_orientation_is_applied_and_every_tag_gps_included_is_gone() -> None:
    original = Image.open(io.BytesIO(gps_jpeg()))
    assert original.getexif().get_ifd(GPS_IFD) and original.getexif()[ORIENTATION] == 6
    clean = sanitize(ImageInput(gps_jpeg(), "image/jpeg"), LIMIT)
    assert clean.mime == "image/jpeg"
    image = Image.open(io.BytesIO(clean.data))
    assert image.format == "JPEG" and image.size == (200, 400)  # turned upright
    assert image.getpixel((100, 20))[2] > 150  # the blue edge is now at the top
    assert not image.getexif() and not image.getexif().get_ifd(GPS_IFD)
    assert not {"exif", "icc_profile", "xmp", "comment"} & set(image.info)
    assert b"PhoneMaker" not in clean.data and b"GPS" not in clean.data


def test_a_big_photo_is_scaled_to_the_long_side_and_png_becomes_jpeg() -> None:
    big = Image.new("RGBA", (4000, 1000), (0, 0, 0, 0))
    out = io.BytesIO()
    big.save(out, "PNG")
    image = Image.open(io.BytesIO(sanitize(ImageInput(out.getvalue(), "image/png"), LIMIT).data))
    assert image.format == "JPEG" and image.size == (MAX_SIDE, 512)
    assert image.getpixel((10, 10)) == (255, 255, 255)  # transparency on white


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = png_bomb()
    assert len(bomb) < 200_000
    started = time.monotonic()
    assert refused(bomb) == BOMB
    assert time.monotonic() - started < 1.0  # the 400 MP were never decoded


def test_pillows_bomb_warning_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)  # 200×200 now warns (and 2× that is an error)
    assert refused(jpeg(150, 100)) == BOMB


def test_a_truncated_jpeg_is_refused() -> None:
    data = jpeg(800, 600, quality=95)
    assert refused(data[: len(data) // 2]) == BROKEN


def test_a_text_file_named_jpg_is_refused() -> None:
    assert refused("Rechnung Nr. 4711\nBitte überweisen.\n".encode()) == NOT_AN_IMAGE


def test_formats_outside_the_list_are_refused() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "GIF")
    assert refused(out.getvalue()) == NOT_AN_IMAGE


def test_heic_gets_its_own_note() -> None:
    heic = struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0mif1heic" + b"\0" * 64
    assert refused(heic) == HEIC and "JPEG" in HEIC


def test_an_oversize_file_is_refused_by_its_length_alone() -> None:
    note = refused(b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024), max_bytes=1024 * 1024)
    assert "zu groß" in note and "1 MB" in note


def test_photos_are_kept_per_chat_and_read_back_by_reference(tmp_path: Path) -> None:
    intake = PhotoIntake(PhotoStore(tmp_path / "photos", retention_days=30), LIMIT)
    mine, other = ChatKey("telegram", "100"), ChatKey("telegram", "200")
    taken = intake.take(mine, "msg-1", (ImageInput(gps_jpeg(), "image/jpeg"),))
    theirs = intake.take(other, "msg-1", (ImageInput(gps_jpeg(), "image/jpeg"),))
    assert len(taken.refs) == 1 and "100" not in taken.refs[0]
    assert taken.images[0].ref == taken.refs[0]  # the engine sees where each photo is kept
    assert taken.refs[0].split("/")[0] != theirs.refs[0].split("/")[0]  # one folder per chat
    stored = intake.store.load(taken.refs[0])
    assert stored == taken.images[0].data and b"GPS" not in stored
    for ref in ("../" + taken.refs[0], taken.refs[0] + "/../x.jpg", "/etc/passwd", taken.refs[0][:-4]):
        with pytest.raises(FileNotFoundError):
            intake.store.load(ref)


def test_a_refused_image_stores_nothing(tmp_path: Path) -> None:
    intake = PhotoIntake(PhotoStore(tmp_path / "photos", retention_days=30), LIMIT)
    good = ImageInput(display_photo(["E013"]), "image/jpeg")
    with pytest.raises(PhotoRejected):
        intake.take(ChatKey("teams", "c"), "m", (good, ImageInput(b"not an image", "image/jpeg")))
    assert not (tmp_path / "photos").exists()


def test_prune_deletes_photos_past_the_retention(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path / "photos", retention_days=7)
    key = ChatKey("telegram", "1")
    old, new = (store.save(key, f"m{n}", (ImageInput(jpeg(20, 20), "image/jpeg"),))[0] for n in (1, 2))
    ten_days_ago = (utc_now() - timedelta(days=10)).timestamp()
    os.utime(store.root / old, (ten_days_ago, ten_days_ago))
    assert store.prune() == 1
    assert store.load(new)
    with pytest.raises(FileNotFoundError):
        store.load(old)


def test_zero_retention_keeps_no_photos(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path / "photos", retention_days=0)
    assert store.save(ChatKey("telegram", "1"), "m1", (ImageInput(jpeg(20, 20), "image/jpeg"),)) == ()
    assert not (tmp_path / "photos").exists()
