"""Files → pages → chunks.

PDFs are read with pypdfium2 (permissive licence, fast, renders pages too); text
comes from ``layout`` so table rows stay whole lines. Markdown and plain text are
read as they are, a form feed starting a new page. Each chunk knows its file,
page (1-based), section heading and language; the document knows its title,
manufacturer and products (see ``catalog``).

A PDF page without a text layer (a scan) is rendered and read by the ``Ocr`` given
to ``parse_document``; without one it stays empty and is reported.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium

from knowledge.catalog import CatalogEntry, detect_manufacturer, model_names
from knowledge.errors import DocumentUnreadable
from knowledge.layout import Line, page_lines
from knowledge.models import Chunk, DocumentInfo, Page
from knowledge.ocr import Ocr, text_lines
from knowledge.text import detect_language

SUPPORTED_SUFFIXES = frozenset({".pdf", ".md", ".markdown", ".txt"})
CHUNK_CHARS = 900  # a chunk ends at the first line boundary after this many characters
OVERLAP_CHARS = 160  # trailing lines carried into the next chunk of the same page
OCR_LONG_SIDE = 2000  # pixels a scanned page is rendered at for OCR (the detector's own limit)

_HEADING = re.compile(r"^(\d{1,2}(\.\d{1,2}){0,3}\.?|[A-Z]\.|Kapitel \d+|Chapter \d+)\s+\S.{1,70}$")
_GENERIC_TITLE = re.compile(
    r"^(microsoft (word|powerpoint)|untitled|document|page|seite|table|tabelle|figure|abbildung)\b"
    r"|\.(docx?|pdf|indd|cdr|ai)\b",
    re.I,
)


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    info: DocumentInfo
    pages: tuple[Page, ...]
    chunks: tuple[Chunk, ...]
    descriptor: str  # title, brand, products, aliases: searchable with every chunk


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_document(path: Path, name: str, entry: CatalogEntry | None = None, ocr: Ocr | None = None) -> ParsedDocument:
    """Read one manual. ``name`` is its file name relative to the manuals folder;
    ``ocr`` reads the PDF's pages that have no text layer."""
    read_by_ocr: list[int] = []
    if path.suffix.lower() == ".pdf":
        pages, sized, meta_title = _read_pdf(path, ocr, read_by_ocr)
    else:
        pages, sized, meta_title = _read_text(path)
    entry = entry or CatalogEntry(file=name)
    sample = "\n".join(p.text for p in pages[:3])
    heading = _first_page_heading(sized)
    manufacturer = entry.manufacturer or detect_manufacturer(name, f"{meta_title} {heading}", sample)
    products = entry.products or tuple(model_names(Path(name).stem))
    title = entry.title or _title(name, meta_title, heading, manufacturer, products)
    language = detect_language("\n".join(p.text for p in pages[:8])) or "en"
    info = DocumentInfo(
        file=name,
        title=title,
        pages=len(pages),
        language=language,
        manufacturer=manufacturer,
        products=products,
        sha256=file_sha256(path),
        pages_without_text=tuple(p.number for p in pages if not p.lines),
        ocr_pages=tuple(read_by_ocr),
        ocr=ocr.name if ocr is not None else "",
    )
    stem = Path(name).stem.replace("_", " ")
    models = _frequent_models(sample)
    descriptor = " ".join([title, stem, manufacturer, *products, *entry.aliases, heading, *models])
    return ParsedDocument(info, tuple(pages), tuple(chunk_pages(name, pages, language)), descriptor)


def chunk_pages(name: str, pages: list[Page], language: str) -> list[Chunk]:
    """Split every page at line boundaries; the last heading seen names the section.

    Running headers and footers (a line on most pages, page numbers aside) are left
    out of chunks: they would make every page match the manual's title words.
    """
    chunks: list[Chunk] = []
    section = ""
    boilerplate = _running_lines(pages)
    for page in pages:
        current: list[str] = []
        carried = 0  # overlap lines at the head of ``current``
        ordinal = 0
        chunk_section = section
        opened = False  # a chunk that opens with a heading is that section
        for line in page.lines:
            if _shape(line) in boilerplate:
                continue
            if _is_heading(line):
                section = line.strip()
                if not opened and len(current) - carried <= 2:
                    chunk_section, opened = section, True
            current.append(line)
            if sum(len(x) + 1 for x in current) >= CHUNK_CHARS:
                chunks.append(_chunk(name, page.number, ordinal, chunk_section, language, current))
                ordinal += 1
                chunk_section, opened = section, False
                current = _tail(current)
                carried = len(current)
        size = sum(len(x) + 1 for x in current)
        if current and (ordinal == 0 or size > OVERLAP_CHARS + 40):
            chunks.append(_chunk(name, page.number, ordinal, chunk_section, language, current))
    return chunks


def _running_lines(pages: list[Page]) -> set[str]:
    if len(pages) < 4:
        return set()
    counts = Counter(shape for page in pages for shape in {_shape(line) for line in page.lines})
    return {shape for shape, count in counts.items() if count >= max(3, len(pages) * 0.5)}


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip().lower())


def _chunk(name: str, page: int, ordinal: int, section: str, language: str, lines: list[str]) -> Chunk:
    text = "\n".join(lines)
    own = detect_language(text) if len(text) > 300 else language
    return Chunk(file=name, page=page, ordinal=ordinal, section=section, language=own or language, text=text)


def _tail(lines: list[str]) -> list[str]:
    tail: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) > OVERLAP_CHARS:
            break
        tail.insert(0, line)
        size += len(line) + 1
    return tail


def _is_heading(line: str) -> bool:
    return "|" not in line and bool(_HEADING.match(line.strip())) and not line.rstrip().endswith(".")


def open_pdf(source: Path | bytes, name: str) -> pdfium.PdfDocument:
    """The PDF ``source`` (a file or its bytes), opened; ``DocumentUnreadable`` naming ``name``
    ("password-protected" or "not a readable PDF") when pdfium cannot open it without a password."""
    try:
        return pdfium.PdfDocument(source)
    except pdfium.PdfiumError as err:
        reason = "password-protected" if "password" in str(err).lower() else f"not a readable PDF ({err})"
        raise DocumentUnreadable(f"{name}: {reason}") from err


def _read_pdf(path: Path, ocr: Ocr | None, read_by_ocr: list[int]) -> tuple[list[Page], list[list[Line]], str]:
    document = open_pdf(path, path.name)
    try:
        pages: list[Page] = []
        sized: list[list[Line]] = []
        for number, page in enumerate(document, start=1):
            try:
                lines = page_lines(page)
                if not lines and ocr is not None:
                    lines = _ocr_lines(page, ocr)
                    if lines:
                        read_by_ocr.append(number)
            finally:
                page.close()
            sized.append(lines)
            pages.append(Page(number, tuple(line.text for line in lines)))
        meta_title = str(document.get_metadata_dict().get("Title", "") or "").strip()
    except pdfium.PdfiumError as err:
        raise DocumentUnreadable(f"{path.name}: damaged PDF ({err})") from err
    finally:
        document.close()
    if not pages:
        raise DocumentUnreadable(f"{path.name}: the PDF has no pages")
    return pages, sized, meta_title


def _ocr_lines(page: pdfium.PdfPage, ocr: Ocr) -> list[Line]:
    """A scanned page's text lines, rendered and read by ``ocr``; sizes in points."""
    width, height = page.get_size()
    scale = OCR_LONG_SIDE / max(width, height, 1.0)
    image = page.render(scale=scale, grayscale=True).to_pil()
    boxes = ocr.read(image)
    height_of = {box.text: box.height / scale for box in boxes}
    return [Line(text, height_of.get(text, 10.0)) for text in text_lines(boxes)]


def _read_text(path: Path) -> tuple[list[Page], list[list[Line]], str]:
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DocumentUnreadable(f"{path.name}: not UTF-8 text") from err
    pages: list[Page] = []
    for number, part in enumerate(raw.split("\f"), start=1):
        lines = tuple(line.strip() for line in part.splitlines() if line.strip())
        pages.append(Page(number, lines))
    title = next((ln.lstrip("# ").strip() for p in pages for ln in p.lines if ln.startswith("#")), "")
    sized = [[Line(text, 10.0) for text in p.lines] for p in pages[:1]]
    return pages, sized, title


def _frequent_models(sample: str, top: int = 3) -> list[str]:
    """Model names the first pages repeat ("JN-MPPT", "SUN-10K-SG04"): searchable with the manual."""
    counts = Counter(m for m in model_names(sample) if any(c.isalpha() for c in m) and len(m) >= 4)
    counts.update(m.group(0) for m in re.finditer(r"\b[A-Z]{2,}-[A-Z]{2,}[A-Z0-9\-]*\b", sample))
    return [model for model, count in counts.most_common(top) if count >= 3]


def _first_page_heading(sized: list[list[Line]]) -> str:
    """The largest text among the first lines of page 1 (joined if it wraps)."""
    if not sized or not sized[0]:
        return ""
    candidates = [ln for ln in sized[0][:25] if len(ln.text) >= 4 and sum(c.isalpha() for c in ln.text) >= 3]
    if not candidates:
        return ""
    biggest = max(ln.size for ln in candidates)
    if biggest < 1.15 * Counter(round(ln.size) for ln in sized[0]).most_common(1)[0][0]:
        return ""  # no line stands out: no typographic title on page 1
    parts = [ln.text for ln in candidates if ln.size >= biggest * 0.9][:3]
    return " ".join(parts)[:100].strip(" |")


def _title(name: str, meta_title: str, heading: str, manufacturer: str, products: tuple[str, ...]) -> str:
    stem = Path(name).stem.replace("_", " ")
    base = next((t for t in (meta_title, heading) if _good_title(t)), stem)
    missing = [p for p in (manufacturer, *products[:1]) if p and p.lower() not in base.lower()]
    return f"{' '.join(missing)} – {base}" if missing and base != stem else base


def _good_title(title: str) -> bool:
    """Two real words at least, and not a template's or converter's leftover."""
    real_words = [w for w in title.split() if sum(c.isalpha() for c in w) >= 3]
    return len(real_words) >= 2 and not _GENERIC_TITLE.search(title)
