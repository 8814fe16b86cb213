"""What a photo says: OCR text → error codes, brand and model words, display message.

A display photo reads like ``Error 4O8`` / ``Überhitzung``; a nameplate like
``Growatt`` / ``Model: MIC 3000TL-X``. OCR confuses look-alike characters, so
inside a code-shaped token O → 0, I/l/| → 1 and £/€ → E before the shared
``knowledge.text.error_codes`` canonicalises it ("E-013", "Error: 405", "W08").
The search query is built from what was read plus the technician's caption:
codes first (as displayed), then brand, model and the display's message words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PIL import Image, ImageFilter, ImageOps

from bot.core.messages import ImageInput
from bot.photos.intake import open_image
from knowledge.catalog import brands_in
from knowledge.ocr import Ocr, text_lines
from knowledge.text import content_words, error_codes, fold

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MESSAGE_WORDS = 8  # display message words added to the query
# a keyword the display prints before the number ("Err0r" is OCR for "Error")
_KEYWORD = r"(?:error|err|fehler|fehlercode|fault|warning|warnung|alarm|störung|stoerung|code)"
_KEYWORD_FIXES = ((re.compile(r"\berr[o0]r\b", re.I), "Error"), (re.compile(r"\bfeh[il1]er\b", re.I), "Fehler"))
# "E0l3", "F-2I", "£013", "W O8": a letter code or a number after a keyword, with look-alikes
_LETTER_CODE = re.compile(r"(?<![\w£€])([EFWAefwa£€])(-?)([0-9OoIl|]{1,4})(?![\w])")
_KEYWORD_NUMBER = re.compile(
    rf"\b({_KEYWORD})(\s*(?:code)?\s*[:#.\-]?\s*(?:[A-Za-z£€]{{0,2}}[\- ]?)?)([0-9OoIl|]{{1,5}})(?![\w])", re.I
)
_DIGITS = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "|": "1"})
_LETTERS = str.maketrans({"£": "E", "€": "E"})
# a displayed code, as the display writes it: "Error 408", "E013", "F-27", "Fehler 31", "ERR E101"
_SHOWN_CODE = re.compile(
    rf"\b{_KEYWORD}\s*(?:code)?\s*[:#.\-]?\s*(?:[A-Za-z]{{0,2}}[\- ]?)?\d{{1,5}}\b|\b[EFWA]-?\d{{1,4}}\b", re.I
)
_MODEL_LABEL = re.compile(r"^\s*(?:model|modell|type|typ|model name|modellname)\s*[:.]?\s*(.+)$", re.I)
_MODEL_WORD = re.compile(r"\b[A-Za-z]{1,6}[-\s]?\d{1,5}[A-Za-z0-9\-]*\b|\b[A-Za-z]{1,4}\d?-[A-Za-z]{3,}\b")
_SERIAL_LABEL = re.compile(r"^\s*(?:serial|s/n|sn|seriennummer|serien-nr|ser\.?\s*no)\b", re.I)
_LABEL_WORDS = frozenset("model modell type typ name serial seriennummer no nr".split())
_MEASURE = re.compile(r"(^|\s)\d+([.,]\d+)?\s*(v|a|w|kw|kwh|kva|va|ah|hz|%|°c)$", re.I)


@dataclass(frozen=True, slots=True)
class Reading:
    """What one or more photos show, as far as OCR can tell."""

    text: str  # the OCR lines, normalised, one per line
    codes: tuple[str, ...]  # as displayed, normalised: "Error 408", "E013"
    brands: tuple[str, ...]  # canonical: "Growatt"
    models: tuple[str, ...]  # "MIC 3000TL-X", "SUN-10K-SG04"
    message: str  # the display's own words besides code, brand and model

    @property
    def has_code(self) -> bool:
        return bool(self.codes)

    def query(self, caption: str = "") -> str:
        """The search: codes, brand, model, message words, then the caption."""
        wanted = set(content_words(self.message))
        words = [w for w in self.message.split() if fold(w) in wanted][:MESSAGE_WORDS]
        parts = [*self.codes, *self.brands, *self.models, " ".join(words), caption.strip()]
        return " ".join(part for part in parts if part).strip()

    def summary(self) -> str:
        """A German line saying what was read (shown above the answer)."""
        shown = ", ".join(self.codes) or "kein Fehlercode"
        device = " ".join([*self.brands, *self.models])
        return f"Auf dem Foto erkannt: {shown}" + (f" ({device})" if device else "")


class PhotoReader:
    """Reads photos with an ``Ocr``; cheap to create, the OCR engine is shared.

    Images are opened through ``bot.photos.open_image`` again: an engine never
    decodes bytes that skipped the safety checks."""

    def __init__(self, ocr: Ocr, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._ocr = ocr
        self._max_bytes = max_bytes

    def read(self, images: tuple[ImageInput, ...]) -> Reading:
        """Each image once; an image without a code once more, contrast-stretched and
        sharpened (glare and blur wash a display out: this wins back most such photos)."""
        lines: list[str] = []
        for image in images:
            pixels = open_image(image, self._max_bytes)
            read = text_lines(self._ocr.read(pixels))
            if not understand(read).has_code:
                again = text_lines(self._ocr.read(_enhanced(pixels)))
                read = again if understand(again).has_code else read
            lines.extend(read)
        return understand(lines)


def _enhanced(image: Image.Image) -> Image.Image:
    gray = ImageOps.autocontrast(image.convert("L"), cutoff=1)
    return gray.filter(ImageFilter.UnsharpMask(radius=3, percent=200)).convert("RGB")


def understand(lines: list[str]) -> Reading:
    """A ``Reading`` of OCR lines (top to bottom)."""
    fixed = [normalize_codes(line) for line in lines if line.strip()]
    text = "\n".join(fixed)
    codes: dict[str, None] = {}
    seen: set[str] = set()
    for line in fixed:
        for match in _SHOWN_CODE.finditer(line):
            shown = " ".join(match.group(0).replace(":", " ").split())
            canonical = set(error_codes(shown))
            if canonical and not canonical <= seen:
                codes.setdefault(shown, None)
                seen |= canonical
    brands = tuple(brands_in(text))
    models = _models(fixed, codes)
    message = _message(fixed, codes, brands, models)
    return Reading(text, tuple(codes), brands, models, message)


def normalize_codes(line: str) -> str:
    """Undo OCR look-alikes inside code-shaped tokens; other words stay as read."""
    for pattern, replacement in _KEYWORD_FIXES:
        line = pattern.sub(replacement, line)

    def letter(match: re.Match[str]) -> str:
        number = match.group(3)
        if not any(c.isdigit() for c in number):
            return match.group(0)  # "Eol", "All": words, not codes
        return match.group(1).translate(_LETTERS).upper() + match.group(2) + number.translate(_DIGITS)

    def keyword(match: re.Match[str]) -> str:
        number = match.group(3)
        if not any(c.isdigit() for c in number):
            return match.group(0)
        return match.group(1) + match.group(2).translate(_LETTERS) + number.translate(_DIGITS)

    return _LETTER_CODE.sub(letter, _KEYWORD_NUMBER.sub(keyword, line))


def _models(lines: list[str], codes: dict[str, None]) -> tuple[str, ...]:
    code_terms = {c for shown in codes for c in error_codes(shown)}
    found: dict[str, None] = {}
    for line in lines:
        if _SERIAL_LABEL.match(line):
            continue
        labelled = _MODEL_LABEL.match(line)
        if labelled:
            found.setdefault(labelled.group(1).split(" | ")[0].strip(), None)
            continue
        for match in _MODEL_WORD.finditer(line):
            word = match.group(0).strip("- ")
            letters = sum(c.isalpha() for c in word)
            if len(word) < 3 or not letters or _MEASURE.search(word) or set(error_codes(word)) & code_terms:
                continue
            if error_codes(word) and len(word) <= 5:
                continue  # "W08" on a display is a code, not a model
            found.setdefault(word, None)
    return tuple(found)


def _message(lines: list[str], codes: dict[str, None], brands: tuple[str, ...], models: tuple[str, ...]) -> str:
    """The display's words that are neither code, brand, model nor a measurement."""
    skip = {fold(w) for item in (*codes, *brands, *models) for w in item.split()}
    kept: list[str] = []
    for line in lines:
        if _SERIAL_LABEL.match(line) or _MODEL_LABEL.match(line):
            continue
        for word in re.findall(r"[^\W\d_][^\W_]*(?:-[^\W_]+)*", line):
            if fold(word) in skip or fold(word) in _LABEL_WORDS or len(word) < 3 or brands_in(word):
                continue
            kept.append(word)
    return " ".join(kept)
