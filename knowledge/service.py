"""``KnowledgeBase``: the one object the bot, the CLI and the benchmarks use.

It reads the current index version lazily and re-checks it at most every
``refresh_seconds``, so a long-running process picks up a finished ``/reindex``
(from any process) without a restart, and keeps serving the previous version
while a build runs.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import lancedb
import pypdfium2 as pdfium
from lancedb.table import Table

from knowledge import index
from knowledge.embedder import Embedder
from knowledge.errors import DocumentNotFound
from knowledge.index import IndexState
from knowledge.indexer import Indexer, Progress
from knowledge.models import DocumentInfo, IndexReport, Page, SearchResult
from knowledge.ocr import Ocr
from knowledge.retriever import Mode, Reranker, Retriever

RENDER_LONG_SIDE = 1600  # pixels: sharp on a phone, small enough for a chat photo


@dataclass(frozen=True, slots=True)
class _Snapshot:
    state: IndexState
    chunks: Table
    pages: Table
    checked: float


class KnowledgeBase:
    def __init__(
        self,
        uri: str,
        data_dir: Path,
        embedder: Embedder,
        reranker: Reranker | None = None,
        refresh_seconds: float = 2.0,
        ocr: Ocr | None = None,
    ) -> None:
        self._uri = uri
        self._ocr = ocr
        self.on_search: Callable[[float], None] | None = None  # called with each search's seconds (metrics)
        self._data_dir = data_dir
        self._embedder = embedder
        self._retriever = Retriever(embedder, reranker)
        self._refresh = refresh_seconds
        self._db: lancedb.DBConnection | None = None
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @property
    def retriever(self) -> Retriever:
        return self._retriever

    def chunks_table(self) -> Table:
        """The current index version's chunk table (for evaluation tools that re-rank offline)."""
        return self._current().chunks

    @property
    def ocr(self) -> Ocr | None:
        """What reads scanned pages while indexing (None: they stay unsearchable)."""
        return self._ocr

    def index(self, paths: Iterable[Path], progress: Progress | None = None, rebuild: bool = False) -> IndexReport:
        report = Indexer(self._uri, self._data_dir, self._embedder, self._ocr).run(paths, progress, rebuild)
        self._snapshot = None  # this process sees its own build at once
        return report

    def search(self, query: str, k: int = 5, product: str | None = None, mode: Mode = "hybrid") -> SearchResult:
        started = time.perf_counter()
        snap = self._current()
        result = self._retriever.search(snap.state, snap.chunks, query, k, product, mode)
        if self.on_search is not None:
            self.on_search(time.perf_counter() - started)
        return result

    def chunk_count(self) -> int:
        """How many passages the current index holds."""
        return int(self._current().chunks.count_rows())

    def documents(self) -> list[DocumentInfo]:
        return [d.info for d in self._current().state.documents]

    def state(self) -> IndexState:
        return self._current().state

    def page(self, file: str, number: int) -> Page:
        doc = self._document(file)
        if not 1 <= number <= doc.pages:
            raise DocumentNotFound(f"{doc.title} has pages 1–{doc.pages}, not {number}")
        rows = self._current().pages.search().where(f"file = {_quote(doc.file)} AND page = {number}").limit(1).to_list()
        text = str(rows[0]["text"]) if rows else ""
        return Page(number, tuple(text.splitlines()))

    def full_document(self, file: str, pages: Iterable[int] | None = None) -> list[Page]:
        doc = self._document(file)
        rows = self._current().pages.search().where(f"file = {_quote(doc.file)}").limit(doc.pages + 1).to_list()
        wanted = set(pages) if pages is not None else None
        found = sorted((int(r["page"]), str(r["text"])) for r in rows if wanted is None or int(r["page"]) in wanted)
        return [Page(n, tuple(text.splitlines())) for n, text in found]

    def render_page(self, file: str, number: int, long_side: int = RENDER_LONG_SIDE) -> bytes:
        """The page as PNG, for sending the exact page to a phone."""
        indexed = self._current().state.by_file().get(self._document(file).file)
        assert indexed is not None
        source = Path(indexed.source)
        if source.suffix.lower() != ".pdf":
            raise DocumentNotFound(f"{indexed.info.title} is not a PDF; there is no page image")
        if not 1 <= number <= indexed.info.pages:
            raise DocumentNotFound(f"{indexed.info.title} has pages 1–{indexed.info.pages}, not {number}")
        if not source.is_file():
            raise DocumentNotFound(f"{indexed.info.file}: the PDF is no longer at {source}; run `nik index`")
        pdf = pdfium.PdfDocument(source)
        try:
            page = pdf[number - 1]
            width, height = page.get_size()
            bitmap = page.render(scale=long_side / max(width, height))
            buffer = io.BytesIO()
            bitmap.to_pil().save(buffer, format="PNG", optimize=True)
            page.close()
            return buffer.getvalue()
        finally:
            pdf.close()

    def source(self, file: str) -> tuple[DocumentInfo, Path]:
        """The indexed manual ``file`` names and where its PDF lies (``/pdf`` copies pages from it)."""
        info = self._document(file)
        indexed = self._current().state.by_file().get(info.file)
        assert indexed is not None
        return info, Path(indexed.source)

    def _document(self, file: str) -> DocumentInfo:
        """Find a manual by file name, with or without folder/suffix, case-insensitive."""
        for doc in self.documents():
            if names(doc.file, file):
                return doc
        raise DocumentNotFound(f"No indexed manual is called {file!r}")

    def _current(self) -> _Snapshot:
        now = time.monotonic()
        snap = self._snapshot
        if snap is not None and now - snap.checked < self._refresh:
            return snap
        with self._lock:
            if self._db is None:
                self._db = index.connect(self._uri)
            state = index.require_state(self._db, self._embedder.name)
            if snap is not None and snap.state.version == state.version:
                self._snapshot = _Snapshot(snap.state, snap.chunks, snap.pages, now)
            else:
                self._snapshot = _Snapshot(
                    state, self._db.open_table(state.chunks_table), self._db.open_table(state.pages_table), now
                )
            return self._snapshot


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def names(file: str, wanted: str) -> bool:
    """Whether ``wanted`` names the manual ``file``: its path, file name or stem, ignoring case and edge spaces."""
    name, asked = file.casefold(), wanted.strip().casefold()
    return asked in (name, Path(name).name, Path(name).stem)
