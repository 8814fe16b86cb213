"""Shared fixtures: one real E5 embedder, the bundled sample manual, the shared corpus.

Everything is real: LanceDB on disk, PDFs read with pdfium, vectors from the
offline e5 model. Expensive things are built once per session and then *copied*
into each test's own ``tmp_path`` so that tests stay independent.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

import pg_server
from helpers import APP_ENV, CORPUS_RETRIEVAL_FILES, SAMPLE_DIR, SAMPLE_NAME, corpus_file, open_kb
from knowledge.embedder import E5Embedder
from knowledge.service import KnowledgeBase
from storage.db import database_url
from storage.store import Store


@pytest.fixture(scope="session")
def embedder() -> E5Embedder:
    """The real default embedder, loaded once for the whole session."""
    return E5Embedder()


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The bundled sample manuals folder (read-only: tests never modify it)."""
    assert (SAMPLE_DIR / SAMPLE_NAME).is_file(), "the bundled sample manual is missing"
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def sample_pdf(sample_dir: Path) -> Path:
    return sample_dir / SAMPLE_NAME


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, embedder: E5Embedder, sample_dir: Path) -> Path:
    """A data dir holding version 1 of an index of the sample manuals folder.

    Built once per session; tests get a private copy through ``kb_dir``."""
    data_dir = tmp_path_factory.mktemp("sample-index")
    report = open_kb(data_dir, embedder).index([sample_dir])
    assert report.version == 1 and report.documents == 1
    return data_dir


@pytest.fixture
def kb_dir(tmp_path: Path, sample_index: Path) -> Path:
    """This test's own data dir (``tmp_path``), holding a copy of the sample index."""
    shutil.copytree(sample_index, tmp_path, dirs_exist_ok=True)
    return tmp_path


@pytest.fixture
def sample_kb(kb_dir: Path, embedder: E5Embedder) -> KnowledgeBase:
    """A knowledge base over this test's copy of the sample index (version 1)."""
    return open_kb(kb_dir, embedder)


@pytest.fixture
def seeded_cache(tmp_path: Path, sample_index: Path) -> Path:
    """A data dir (``tmp_path``) without any index whose vector cache already holds
    the sample manual's vectors: indexing the sample from scratch is then quick."""
    shutil.copytree(sample_index / "cache", tmp_path / "cache")
    return tmp_path


@pytest.fixture
def manuals(tmp_path: Path, sample_dir: Path) -> Path:
    """A private, writable copy of the sample manuals folder (PDF + catalog.toml)."""
    target = tmp_path / "manuals"
    shutil.copytree(sample_dir, target)
    return target


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared corpus next to the repository (never copied into the repo)."""
    corpus = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
    if not (corpus / "pdfs").is_dir():
        pytest.skip(f"shared corpus not found at {corpus} (expected ../shared/corpus/pdfs beside the repo)")
    return corpus


@pytest.fixture(scope="session")
def corpus_pdfs(corpus_dir: Path) -> Path:
    return corpus_dir / "pdfs"


@pytest.fixture(scope="session")
def corpus_kb(tmp_path_factory: pytest.TempPathFactory, embedder: E5Embedder, corpus_pdfs: Path) -> KnowledgeBase:
    """One index of a few small real corpus manuals, shared read-only by retrieval tests."""
    files = [corpus_file(corpus_pdfs, name) for name in CORPUS_RETRIEVAL_FILES]
    data_dir = tmp_path_factory.mktemp("corpus-index")
    kb = open_kb(data_dir, embedder, refresh_seconds=3600.0)
    report = kb.index(files)
    assert report.documents == len(files) and not report.skipped
    assert report.chunks < 150, f"the corpus fixture grew to {report.chunks} chunks: too slow to embed"
    return kb


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No application variables from the outer environment, no stray ``.env`` (the
    working directory is ``tmp_path``), and a standard 80-column terminal."""
    for name in APP_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    yield monkeypatch


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(database_url(tmp_path / "chat", None))
    yield opened
    await opened.close()


# -- databases: SQLite files and a throwaway PostgreSQL server -------------------------

T = TypeVar("T")
_POSTGRES_MISSING: list[str] = []


def _blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on its own loop in its own thread (safe from sync fixtures)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg_server.PostgresServer]:
    """A PostgreSQL server for the session (see ``pg_server``). Skipped, saying why, when
    none can be started here; under CI (``CI=true``) that is a failure instead."""
    try:
        server = pg_server.start()
    except pg_server.NoPostgres as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs a PostgreSQL server for the storage tests: {err}", pytrace=False)
        _POSTGRES_MISSING.append(str(err).splitlines()[0])
        pytest.skip(f"PostgreSQL cases skipped: {err}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: pg_server.PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test alone, dropped afterwards."""
    url = _blocking(postgres_server.create_database())
    yield url
    _blocking(postgres_server.drop_database(url))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """This test's own empty database, once on a SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        return database_url(tmp_path / "chat", None)
    return str(request.getfixturevalue("postgres_url"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _POSTGRES_MISSING:
        terminalreporter.write_line(f"PostgreSQL cases skipped: {_POSTGRES_MISSING[0]}", yellow=True)


@pytest.fixture
def device_kb(seeded_cache: Path, embedder: E5Embedder, manuals: Path) -> KnowledgeBase:
    """The sample manual plus a second maker's manual listing the same error code E013."""
    (manuals / "Voltronic_Axpert_Kurzanleitung.md").write_text(
        "# Voltronic Axpert Kurzanleitung\n\n## Fehlercodes\n\n"
        "E013 Batteriespannung zu niedrig | Batterie laden, Anschlüsse prüfen\n"
        "E014 Batteriespannung zu hoch | Ladeparameter prüfen\n",
        encoding="utf-8",
    )
    kb = open_kb(seeded_cache, embedder)
    kb.index([manuals])
    return kb


@pytest.fixture
def llm_env(clean_env: pytest.MonkeyPatch, kb_dir: Path) -> pytest.MonkeyPatch:
    """A core configured for an LLM (key, model) on a copy of the sample index; the
    test points OPENAI_BASE_URL at its scripted server."""
    clean_env.setenv("NIK_DATA_DIR", str(kb_dir))
    clean_env.setenv("OPENAI_API_KEY", "sk-test")
    clean_env.setenv("NIK_LLM_MODEL", "scripted-model")
    return clean_env
