"""Plain values that cross the knowledge base's boundary."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Page:
    number: int  # 1-based, as printed in citations
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """What the index knows about one manual."""

    file: str  # path relative to the manuals folder, posix separators
    title: str
    pages: int
    language: str  # "de", "en", "nl", ... (dominant language)
    manufacturer: str = ""
    products: tuple[str, ...] = ()
    sha256: str = ""
    indexed_at: str = ""  # ISO 8601, UTC
    pages_without_text: tuple[int, ...] = ()  # no text, even after OCR
    ocr_pages: tuple[int, ...] = ()  # pages whose text was read by OCR (scans)
    ocr: str = ""  # the OCR engine that read pages without a text layer ("": none was available)


@dataclass(frozen=True, slots=True)
class Chunk:
    file: str
    page: int
    ordinal: int  # position of the chunk within its page
    section: str
    language: str
    text: str


@dataclass(frozen=True, slots=True)
class Passage:
    """One search hit: a piece of a page, with what a citation needs."""

    file: str
    title: str
    page: int
    text: str
    score: float
    section: str = ""

    @property
    def citation(self) -> str:
        return f"{self.title}, S. {self.page}"


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Ranked passages (best first, one per page) and whether they really match."""

    query: str
    passages: tuple[Passage, ...]
    confident: bool
    reason: str = ""  # why confidence is low, for logs and /search output
    uncovered_brands: tuple[str, ...] = ()  # brands the question names that no manual covers
    signals: tuple[tuple[str, float], ...] = ()  # the evidence the confidence verdict weighed (name, value)

    def __iter__(self) -> Iterator[Passage]:
        return iter(self.passages)

    def __len__(self) -> int:
        return len(self.passages)

    def __getitem__(self, index: int) -> Passage:
        return self.passages[index]


@dataclass(frozen=True, slots=True)
class IndexProgress:
    """Reported while indexing; the CLI draws a bar, the chat edits a message."""

    files_done: int
    files_total: int
    pages_done: int
    pages_total: int
    current_file: str = ""


@dataclass(frozen=True, slots=True)
class IndexReport:
    documents: int
    pages: int
    chunks: int
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    seconds: float = 0.0
    version: int = 0
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (file, reason) not indexed
    pages_without_text: tuple[tuple[str, int], ...] = field(default=())
