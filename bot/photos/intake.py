"""Photos from the field: opened safely, stripped, stored per chat.

``sanitize`` turns whatever bytes an adapter downloaded into a clean JPEG or
raises ``PhotoRejected`` with a short German note:

* the size cap (``NIK_MAX_IMAGE_BYTES``) is checked before anything is decoded;
* Pillow may only open JPEG, PNG and WEBP (and AVIF when this Pillow build has it);
  HEIC, as iPhones send it as a file, gets its own note instead of a new dependency;
* a decompression bomb is refused: ``DecompressionBombWarning`` is an error here,
  and so is anything above ``MAX_PIXELS``, checked on the header before decoding;
* truncated or corrupt files are refused (Pillow's strict default is kept);
* the EXIF orientation is applied, then *all* metadata is dropped (GPS, camera,
  ICC, comments): the pixels are copied into a fresh image and re-encoded as JPEG,
  the long side at most ``MAX_SIDE`` pixels.

``PhotoStore`` keeps the stripped photos under ``NIK_DATA_DIR/photos``, one folder
per chat (a hash of platform, chat and thread) and one file per message and
image. ``load`` reads a stored reference back (a paused LLM turn keeps references,
not photos); ``prune``, run hourly by the scheduler, deletes photos older than
``NIK_PHOTO_RETENTION_DAYS`` (0: photos are not kept at all); ``delete`` removes a
user's photos when they ask Nik to forget them.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import warnings
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError, features

from bot.core.messages import ImageInput
from bot.errors import PhotoRejected
from storage.store import ChatKey, utc_now

log = logging.getLogger(__name__)

MAX_SIDE = 2048  # pixels: plenty for OCR and a vision model, a fraction of a phone's 12–50 MP
MAX_PIXELS = 60_000_000  # a 50 MP phone photo still opens; bombs do not
JPEG_QUALITY = 88
MAX_IMAGES = 4  # per message (a Teams message may carry several)
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", *(("AVIF",) if features.check("avif") else ()))

TOO_BIG = "Das Bild ist zu groß (höchstens {mb} MB). Bitte schicken Sie ein kleineres Foto."
NOT_AN_IMAGE = "Das kann ich nicht als Foto öffnen. Bitte schicken Sie ein JPEG-, PNG- oder WEBP-Bild."
HEIC = (
    "HEIC-Fotos kann ich leider nicht öffnen. Bitte als JPEG schicken (iPhone: Einstellungen → Kamera → "
    "Formate → „Maximale Kompatibilität“) oder das Foto normal statt als Datei senden."
)
BOMB = "Das Bild hat zu viele Pixel, um es sicher zu öffnen. Bitte schicken Sie ein normales Foto."
BROKEN = "Das Foto ist beschädigt oder unvollständig angekommen. Bitte schicken Sie es noch einmal."
TOO_MANY = "Bitte schicken Sie höchstens {n} Fotos auf einmal."

_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_REF = re.compile(r"[0-9a-f]{24}/[0-9A-Za-z-]+\.jpg")  # what ``save`` returns: chat folder / file


def sanitize(image: ImageInput, max_bytes: int) -> ImageInput:
    """A stripped, upright, at most ``MAX_SIDE`` px JPEG of ``image``; ``PhotoRejected`` if unsafe."""
    clean = open_image(image, max_bytes)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return ImageInput(out.getvalue(), "image/jpeg")


def open_image(image: ImageInput, max_bytes: int) -> Image.Image:
    """The pixels of ``image``, upright, RGB, no metadata, long side ≤ ``MAX_SIDE``."""
    data = image.data
    if len(data) > max_bytes:
        raise PhotoRejected(TOO_BIG.format(mb=max(1, max_bytes // (1024 * 1024))))
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        raise PhotoRejected(HEIC)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as opened:
                width, height = opened.size  # from the header: nothing decoded yet
                if width * height > MAX_PIXELS:
                    raise PhotoRejected(BOMB)
                opened.load()
                upright = ImageOps.exif_transpose(opened)
                clean = _stripped(upright)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise PhotoRejected(BOMB) from None
        except UnidentifiedImageError:
            raise PhotoRejected(NOT_AN_IMAGE) from None
        except (OSError, SyntaxError, ValueError):  # truncated data, broken chunks
            raise PhotoRejected(BROKEN) from None
    clean.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return clean


def sanitize_all(images: tuple[ImageInput, ...], max_bytes: int) -> tuple[ImageInput, ...]:
    """Every image of a message, or ``PhotoRejected`` for the first that is refused."""
    if len(images) > MAX_IMAGES:
        raise PhotoRejected(TOO_MANY.format(n=MAX_IMAGES))
    return tuple(sanitize(image, max_bytes) for image in images)


def _stripped(image: Image.Image) -> Image.Image:
    """The pixels alone, in RGB (transparency on white): no EXIF, XMP, ICC or text chunks."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        rgb = Image.new("RGB", rgba.size, (255, 255, 255))
        rgb.paste(rgba, mask=rgba.getchannel("A"))
    else:
        rgb = image.convert("RGB")
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())


class PhotoIntake:
    """What the conversation does with a message's images before the engine sees them."""

    def __init__(self, store: PhotoStore, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes

    def take(self, key: ChatKey, message_id: str, images: tuple[ImageInput, ...]) -> Intake:
        """Sanitize every image (``PhotoRejected``: nothing is stored), then store them."""
        clean = sanitize_all(images, self.max_bytes)
        refs = self.store.save(key, message_id, clean)
        if refs:
            clean = tuple(replace(image, ref=ref) for image, ref in zip(clean, refs, strict=True))
        return Intake(clean, refs)


@dataclass(frozen=True, slots=True)
class Intake:
    images: tuple[ImageInput, ...]  # stripped JPEGs, each with its ``ref`` when kept
    refs: tuple[str, ...]  # where they are stored (empty when photos are not kept)


class PhotoStore:
    """Stripped photos on disk, per chat, kept ``retention_days`` (0: not kept)."""

    def __init__(self, root: Path, retention_days: float) -> None:
        self.root = root
        self.retention_days = retention_days

    @property
    def keeps_photos(self) -> bool:
        return self.retention_days > 0

    def save(self, key: ChatKey, message_id: str, images: tuple[ImageInput, ...]) -> tuple[str, ...]:
        """Store the (already stripped) images; their references, relative to ``root``."""
        if not self.keeps_photos or not images:
            return ()
        folder = self.root / _chat_folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = utc_now().strftime("%Y%m%dT%H%M%S")
        message = hashlib.sha256(message_id.encode()).hexdigest()[:16]
        refs: list[str] = []
        for number, image in enumerate(images, start=1):
            name = f"{stamp}-{message}-{number}.jpg"
            temporary = folder / f".{name}.tmp"
            temporary.write_bytes(image.data)
            temporary.replace(folder / name)
            refs.append(f"{_chat_folder(key)}/{name}")
        return tuple(refs)

    def load(self, ref: str) -> bytes:
        """A stored photo; ``FileNotFoundError`` for a pruned photo or anything that is
        not a plain ``folder/name.jpg`` reference under ``root``."""
        if not _REF.fullmatch(ref):
            raise FileNotFoundError(ref)
        return (self.root / ref).read_bytes()

    def delete(self, refs: tuple[str, ...] | list[str], chats: tuple[ChatKey, ...] = ()) -> int:
        """Delete the photos ``refs`` names and every photo of ``chats`` (``/forget``); the number deleted."""
        paths = [self.root / ref for ref in refs if _REF.fullmatch(ref)]
        for key in chats:
            folder = self.root / _chat_folder(key)
            paths.extend(folder.glob("*.jpg") if folder.is_dir() else ())
        deleted = 0
        for path in dict.fromkeys(paths):
            try:
                path.unlink()
                deleted += 1
            except FileNotFoundError:
                continue  # pruned meanwhile, or never kept
        for folder in {path.parent for path in paths}:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return deleted

    def prune(self, now: datetime | None = None) -> int:
        """Delete photos older than the retention; the number deleted."""
        if not self.root.is_dir():
            return 0
        limit = (now or utc_now()) - timedelta(days=self.retention_days)
        deleted = 0
        for path in self.root.glob("*/*.jpg"):
            try:
                if datetime.fromtimestamp(path.stat().st_mtime, limit.tzinfo) < limit:
                    path.unlink()
                    deleted += 1
            except FileNotFoundError:
                continue  # pruned by another process meanwhile
        for folder in self.root.iterdir():
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if deleted:
            log.info("pruned %d photos older than %s days", deleted, self.retention_days)
        return deleted


def _chat_folder(key: ChatKey) -> str:
    """A chat's folder name: no platform id in a path, the same in every process."""
    return hashlib.sha256(f"{key.platform}\0{key.chat_id}\0{key.thread_key}".encode()).hexdigest()[:24]
