"""Pages of a manual as a PDF of their own (``/pdf``): the original pages, copied by pypdfium2.

``parse_pages`` reads what a technician types ("12", "12-14", "12,14"); ``excerpt``
copies those pages out of the manual's PDF unchanged (text layer, vectors, images),
so the file is as sharp and searchable as the manual itself.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

import pypdfium2 as pdfium

from knowledge.errors import DocumentNotFound

_SPEC = re.compile(r"\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*")
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
NAME_CHARS = 120  # of a file name, before ".pdf"


def parse_pages(spec: str, limit: int = 10_000) -> tuple[int, ...] | None:
    """``"12-14,20"`` → (12, 13, 14, 20), in the order asked, each once; None when it is no page list.

    A range is expanded to at most ``limit`` pages, so "1-999999999" costs nothing.
    """
    text = spec.replace(" ", "").replace(";", ",").replace("–", "-")
    if not _SPEC.fullmatch(text):
        return None
    pages: dict[int, None] = {}
    for part in text.split(","):
        first, _, last = part.partition("-")
        start, end = int(first), int(last or first)
        if start < 1 or end < start:
            return None
        for number in range(start, min(end, start + limit - 1) + 1):
            pages.setdefault(number)
    return tuple(pages)


def page_label(pages: Sequence[int]) -> str:
    """(12, 13, 14) → "12-14"; (12, 14, 15) → "12,14-15": the shortest way to write the pages."""
    runs: list[list[int]] = []
    for number in pages:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def file_name(title: str, pages: Sequence[int]) -> str:
    """``"SolarFux SF-5000TL S. 12-14.pdf"``: the title and pages, without characters a file system refuses."""
    label = page_label(pages)
    words = " ".join(_UNSAFE.sub(" ", title).split()).strip(" .") or "Handbuch"
    pages_part = f" S. {label}" if len(label) <= 40 else f" S. {pages[0]}-{pages[-1]}"
    return f"{words[: NAME_CHARS - len(pages_part)].rstrip(' .')}{pages_part}.pdf"


def excerpt(source: Path, pages: Sequence[int]) -> bytes:
    """A PDF holding exactly ``pages`` (1-based, in this order) of the PDF at ``source``."""
    if not source.is_file():
        raise DocumentNotFound(f"Die PDF-Datei fehlt: {source.name}")
    original = pdfium.PdfDocument(source)
    try:
        count = len(original)
        outside = [n for n in pages if not 1 <= n <= count]
        if not pages or outside:
            raise DocumentNotFound(f"{source.name} hat die Seiten 1–{count}")
        copy = pdfium.PdfDocument.new()
        try:
            copy.import_pages(original, [n - 1 for n in pages])
            buffer = io.BytesIO()
            copy.save(buffer)
            return buffer.getvalue()
        finally:
            copy.close()
    finally:
        original.close()
