"""Plain helpers shared by the test modules (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from fpdf import FPDF
from fpdf.enums import EncryptionMethod
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from knowledge.embedder import Embedder, Vectors
from knowledge.retriever import Reranker
from knowledge.service import KnowledgeBase
from storage.models import Chat, Feedback
from storage.store import ChatKey

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "knowledge" / "sample" / "manuals"
SAMPLE_NAME = "SolarFux_SF-5000TL_Handbuch.pdf"

# Small real manuals from the shared corpus for the retrieval tests: 84 + 13 chunks.
# SMA_CAN_protocol.pdf (110 chunks, ~0.5 CPU-s each with e5) is left out on purpose:
# it alone would more than double the suite's embedding time.
CORPUS_RETRIEVAL_FILES = (
    "Growatt_MIC600TL-X_MAN-DE.pdf",
    "SmartEVSEv3_install_v3.0.pdf",
)

# Environment variables the application reads; tests start without any of them.
APP_ENV = (
    "NIK_DATA_DIR",
    "NIK_MANUALS_DIR",
    "NIK_EMBEDDER",
    "NIK_LANCEDB_URI",
    "NIK_LLM_MODEL",
    "NIK_RERANK_MODEL",
    "NIK_LOG_LEVEL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "COHERE_API_KEY",
    "COHERE_BASE_URL",
    "NIK_ADMINS",
    "DATABASE_URL",
    "NIK_HISTORY_WINDOW",
    "NIK_PAUSE_HOURS",
    "NIK_STT_MODEL",
    "NIK_STT_BASE_URL",
    "NIK_STT_API_KEY",
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def open_kb(
    data_dir: Path, embedder: Embedder, refresh_seconds: float = 0.0, reranker: Reranker | None = None
) -> KnowledgeBase:
    """A knowledge base over ``data_dir``, laid out the way the CLI lays it out."""
    return KnowledgeBase(str(data_dir / "lancedb"), data_dir, embedder, reranker, refresh_seconds=refresh_seconds)


def corpus_file(corpus_pdfs: Path, name: str) -> Path:
    path = corpus_pdfs / name
    if not path.is_file():
        pytest.skip(f"corpus file {name} is missing from {corpus_pdfs}")
    return path


def lance_tables(data_dir: Path, prefix: str) -> set[str]:
    """Names of the table folders on disk under ``data_dir/lancedb`` starting with ``prefix``."""
    root = data_dir / "lancedb"
    if not root.is_dir():
        return set()
    return {p.name.removesuffix(".lance") for p in root.glob(f"{prefix}*.lance")}


def subprocess_env(data_dir: Path) -> dict[str, str]:
    """Environment for running ``nik`` in a child process against ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if k not in APP_ENV}
    env["NIK_DATA_DIR"] = str(data_dir)
    return env


class HashEmbedder:
    """A tiny deterministic embedder: hashed bag of words, L2-normalised."""

    def __init__(self, name: str = "test-hash", dim: int = 64) -> None:
        self._name = name
        self._dim = dim

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def passages(self, texts: Sequence[str]) -> Vectors:
        rows = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                rows[i, int(hashlib.sha256(word.encode()).hexdigest(), 16) % self._dim] += 1.0
            if not rows[i].any():
                rows[i, 0] = 1.0
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def query(self, text: str) -> Vectors:
        return self.passages([text])[0]


class Flaky:
    """A call that raises the errors it is given, one per call, then returns "done"; counts its calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.count = 0

    async def __call__(self) -> str:
        self.count += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def write_pdf(path: Path, pages: Sequence[tuple[str, str]], user_password: str | None = None) -> Path:
    """Write a small real PDF: one ``(orientation "P" or "L", text)`` per page."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=14)
    for orientation, text in pages:
        pdf.add_page(orientation=orientation)
        pdf.multi_cell(w=0, text=text)
    if user_password is not None:
        pdf.set_encryption(
            owner_password="owner-pw", user_password=user_password, encryption_method=EncryptionMethod.AES_128
        )
    pdf.output(str(path))
    return path


def pdf_with_scanned_page(path: Path, sample_pdf: Path) -> Path:
    """A PDF whose page 1 is page 1 of the sample and whose page 2 has no text layer (like a scan)."""
    pdf = pdfium.PdfDocument.new()
    source = pdfium.PdfDocument(sample_pdf)
    try:
        pdf.import_pages(source, [0])
        pdf.new_page(595, 842)
        pdf.save(path)
    finally:
        source.close()
        pdf.close()
    return path


def flat(text: str) -> str:
    """Terminal output with line breaks removed (rich wraps long lines)."""
    return text.replace("\n", "")


async def votes(engine: AsyncEngine, key: ChatKey) -> dict[int, int]:
    """Answer position → sum of the 👍/👎 votes in ``key``'s chat, read with plain SQL."""
    stmt = (
        select(Feedback.answer_position, func.sum(Feedback.value))
        .join(Chat, Feedback.chat_row_id == Chat.id)
        .where(Chat.platform == key.platform, Chat.chat_id == key.chat_id, Chat.thread_key == key.thread_key)
        .group_by(Feedback.answer_position)
    )
    async with engine.connect() as conn:
        return {position: int(total) for position, total in (await conn.execute(stmt)).all()}


def count_transactions(engine: AsyncEngine) -> list[int]:
    """A counter (``[n]``) of the transactions run on ``engine`` from now on: every connection
    taken from its pool (SQLAlchemy's ``checkout`` event). The store runs one transaction per
    connection it takes, reads and writes alike, through SQLAlchemy or as a unit of work on
    the driver (``storage.db.run_unit``), so this counts both kinds."""
    taken = [0]

    def checkout(*_: object) -> None:
        taken[0] += 1

    event.listen(engine.sync_engine.pool, "checkout", checkout)
    return taken
