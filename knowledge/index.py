"""The LanceDB index: versioned tables, switched atomically, built by one writer.

Layout under the LanceDB URI (a folder under ``NIK_DATA_DIR`` by default, or object
storage):

* ``chunks_v{N}`` — one row per chunk: citation fields, raw text, analysed ``terms``
  (native FTS index), its windows' vectors (``windows``) and their mean (``vector``).
* ``pages_v{N}`` — one row per page, for ``page()`` and ``full_document()``.
* ``index_state`` — one row per completed build. The newest row *is* the index.

When only the manuals' location changed, a new *revision* of the same version
records the new paths (same tables). A build writes version N+1 next to N (unchanged manuals' rows are copied, vectors
and all) and appends its state row only when every table and index is complete.
Appending a row is one LanceDB commit, so a reader sees the old index or the new
one, never half of one; a build killed midway leaves orphan tables that the next
build drops. One build at a time: an exclusive ``flock`` on ``index.lock``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lancedb
import pyarrow as pa

from knowledge.errors import EmbedderMismatch, IndexBusy, IndexMissing
from knowledge.models import DocumentInfo

STATE_TABLE = "index_state"
_STATE_SCHEMA = pa.schema(
    [
        ("version", pa.int64()),
        ("revision", pa.int64()),  # metadata-only updates of a version (manuals moved)
        ("created_at", pa.string()),
        ("embedder", pa.string()),
        ("dim", pa.int32()),
        ("documents", pa.string()),  # JSON list of DocumentInfo + "source"
        ("seconds", pa.float64()),
    ]
)


def chunk_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("file", pa.string()),
            ("title", pa.string()),
            ("page", pa.int32()),
            ("ordinal", pa.int32()),
            ("section", pa.string()),
            ("language", pa.string()),
            ("text", pa.string()),
            ("terms", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),  # the mean of ``windows``, normalised
            ("windows", pa.list_(pa.list_(pa.float32(), dim))),  # one vector per window of lines
        ]
    )


PAGE_SCHEMA = pa.schema([("file", pa.string()), ("page", pa.int32()), ("text", pa.string())])


@dataclass(frozen=True, slots=True)
class IndexedDocument:
    info: DocumentInfo
    source: str  # where the file was read from, for rendering pages
    fingerprint: str = ""  # file content + catalog entry; a difference means re-index


@dataclass(frozen=True, slots=True)
class IndexState:
    version: int
    created_at: str
    embedder: str
    dim: int
    documents: tuple[IndexedDocument, ...]
    seconds: float = 0.0
    revision: int = 0

    @property
    def chunks_table(self) -> str:
        return f"chunks_v{self.version}"

    @property
    def pages_table(self) -> str:
        return f"pages_v{self.version}"

    def by_file(self) -> dict[str, IndexedDocument]:
        return {d.info.file: d for d in self.documents}


def connect(uri: str) -> lancedb.DBConnection:
    if "://" not in uri:
        Path(uri).mkdir(parents=True, exist_ok=True)
    return lancedb.connect(uri)


def table_names(db: lancedb.DBConnection) -> set[str]:
    names: set[str] = set()
    token: str | None = None
    while True:
        page = db.list_tables(page_token=token)
        names.update(page.tables)
        token = page.page_token
        if not token:
            return names


def read_state(db: lancedb.DBConnection) -> IndexState | None:
    """The newest completed build, or None before the first one."""
    if STATE_TABLE not in table_names(db):
        return None
    rows = db.open_table(STATE_TABLE).to_arrow().to_pylist()
    if not rows:
        return None
    row = max(rows, key=lambda r: (r["version"], r.get("revision") or 0))
    return IndexState(
        version=row["version"],
        created_at=row["created_at"],
        embedder=row["embedder"],
        dim=row["dim"],
        documents=tuple(_document_from_json(d) for d in json.loads(row["documents"])),
        seconds=row["seconds"],
        revision=row.get("revision") or 0,
    )


def require_state(db: lancedb.DBConnection, embedder: str) -> IndexState:
    """The current build, checked against the configured embedder."""
    state = read_state(db)
    if state is None:
        raise IndexMissing("No manuals are indexed yet. Run `nik index` first.")
    check_embedder(state, embedder)
    return state


def check_embedder(state: IndexState, embedder: str) -> None:
    if state.embedder != embedder:
        raise EmbedderMismatch(
            f"The index was built with the embedder '{state.embedder}', but NIK_EMBEDDER selects "
            f"'{embedder}'. Set NIK_EMBEDDER back, or rebuild with `nik index --rebuild`."
        )


def commit_state(db: lancedb.DBConnection, state: IndexState) -> None:
    """Make ``state`` the current index: one append, one commit."""
    row = {
        "version": state.version,
        "revision": state.revision,
        "created_at": state.created_at,
        "embedder": state.embedder,
        "dim": state.dim,
        "documents": json.dumps([_document_to_json(d) for d in state.documents], ensure_ascii=False),
        "seconds": state.seconds,
    }
    data = pa.Table.from_pylist([row], schema=_STATE_SCHEMA)
    if STATE_TABLE in table_names(db):
        table = db.open_table(STATE_TABLE)
        if "revision" not in table.schema.names:  # state tables written before revisions existed
            table.add_columns({"revision": "CAST(0 AS BIGINT)"})
        table.add(data)
    else:
        db.create_table(STATE_TABLE, data=data)


def drop_stale_tables(db: lancedb.DBConnection, current: int) -> None:
    """Drop versions older than the previous one (readers may still hold it) and
    tables left behind by builds that never committed."""
    keep = {f"chunks_v{v}" for v in (current, current - 1)} | {f"pages_v{v}" for v in (current, current - 1)}
    for name in table_names(db):
        if name.startswith(("chunks_v", "pages_v")) and name not in keep:
            db.drop_table(name)


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@contextmanager
def exclusive_build(lock_path: Path) -> Iterator[None]:
    """Hold the one-writer lock or raise ``IndexBusy`` at once."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = lock_path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise IndexBusy("Indexing is already running (another process holds the lock).") from err
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {time.time():.0f}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock, also when the process dies


def _document_to_json(doc: IndexedDocument) -> dict[str, Any]:
    data = asdict(doc.info)
    data["source"] = doc.source
    data["fingerprint"] = doc.fingerprint
    return data


def _document_from_json(data: dict[str, Any]) -> IndexedDocument:
    source = str(data.pop("source", ""))
    fingerprint = str(data.pop("fingerprint", ""))
    data["products"] = tuple(data.get("products", ()))
    data["pages_without_text"] = tuple(data.get("pages_without_text", ()))
    data["ocr_pages"] = tuple(data.get("ocr_pages", ()))
    return IndexedDocument(DocumentInfo(**data), source, fingerprint)
