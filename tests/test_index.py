"""Indexing: incremental by content, versioned, one writer, crash safe."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import (
    SAMPLE_NAME,
    HashEmbedder,
    corpus_file,
    lance_tables,
    open_kb,
    pdf_with_scanned_page,
    subprocess_env,
)
from knowledge.embedder import E5Embedder
from knowledge.errors import CatalogInvalid, EmbedderMismatch, IndexBusy, ManualsNotFound
from knowledge.index import exclusive_build
from knowledge.indexer import embedding_texts, windows
from knowledge.ingest import parse_document
from knowledge.models import IndexProgress
from knowledge.service import KnowledgeBase

NOTES_V1 = "# Servicenotizen\nDer Lüfter des SF-5000TL quietscht: Lagersatz LG-42 einbauen.\n"
NOTES_V2 = "# Servicenotizen\nDer Lüfter des SF-5000TL quietscht: Kugellager KL-77 einbauen.\n"


def files_of(kb: KnowledgeBase) -> list[str]:
    return sorted(d.file for d in kb.documents())


def top(kb: KnowledgeBase, query: str, **kwargs: object) -> tuple[str, int]:
    result = kb.search(query, **kwargs)  # type: ignore[arg-type]
    assert result.passages, f"no passage for {query!r}"
    return result[0].file, result[0].page


def test_first_index_reports_the_collection(seeded_cache: Path, embedder: E5Embedder, manuals: Path) -> None:
    kb = open_kb(seeded_cache, embedder)
    report = kb.index([manuals])
    expected_chunks = len(parse_document(manuals / SAMPLE_NAME, SAMPLE_NAME).chunks)
    assert (report.version, report.documents, report.pages, report.chunks) == (1, 1, 10, expected_chunks)
    assert report.added == (SAMPLE_NAME,)
    assert report.changed == report.removed == report.skipped == ()
    assert kb.state().version == 1
    assert kb.state().embedder == embedder.name
    assert top(kb, "E013") == (SAMPLE_NAME, 8)


def test_nothing_changed_means_no_new_version(sample_kb: KnowledgeBase, kb_dir: Path, manuals: Path) -> None:
    # Same names, same bytes, another folder: still the same collection.
    report = sample_kb.index([manuals])
    assert report.version == 1
    assert report.added == report.changed == report.removed == ()
    assert report.documents == 1 and report.chunks > 0
    assert lance_tables(kb_dir, "chunks_v") == {"chunks_v1"}


def test_added_changed_removed(sample_kb: KnowledgeBase, manuals: Path) -> None:
    notes = manuals / "notes.md"
    notes.write_text(NOTES_V1, encoding="utf-8")

    added = sample_kb.index([manuals])
    assert (added.version, added.added, added.changed, added.removed) == (2, ("notes.md",), (), ())
    assert added.documents == 2
    assert files_of(sample_kb) == sorted([SAMPLE_NAME, "notes.md"])
    assert top(sample_kb, "Lagersatz LG-42") == ("notes.md", 1)

    notes.write_text(NOTES_V2, encoding="utf-8")
    changed = sample_kb.index([manuals])
    assert (changed.version, changed.added, changed.changed, changed.removed) == (3, (), ("notes.md",), ())
    assert changed.chunks == added.chunks
    assert top(sample_kb, "Kugellager KL-77") == ("notes.md", 1)
    page = sample_kb.page("notes.md", 1)
    assert "KL-77" in page.text and "LG-42" not in page.text

    notes.unlink()
    removed = sample_kb.index([manuals])
    assert (removed.version, removed.added, removed.changed, removed.removed) == (4, (), (), ("notes.md",))
    assert files_of(sample_kb) == [SAMPLE_NAME]
    assert all(p.file == SAMPLE_NAME for p in sample_kb.search("Kugellager KL-77"))


def test_chunk_count_adds_up(sample_kb: KnowledgeBase, manuals: Path) -> None:
    before = sample_kb.index([manuals])
    (manuals / "notes.md").write_text(NOTES_V1, encoding="utf-8")
    after = sample_kb.index([manuals])
    notes_chunks = len(parse_document(manuals / "notes.md", "notes.md").chunks)
    assert after.chunks == before.chunks + notes_chunks
    assert after.pages == before.pages + 1


def test_each_chunk_keeps_its_windows_vectors_and_their_mean(sample_kb: KnowledgeBase) -> None:
    """A chunk's ``windows`` has one vector per window of its lines (``embedding_texts``);
    ``vector``, which the candidate search and the ANN index use, is their mean, normalised."""
    rows = sample_kb.chunks_table().search().select(["section", "text", "vector", "windows"]).limit(1000).to_list()
    assert rows
    several = 0
    for row in rows:
        windows = np.asarray(row["windows"], dtype=np.float32)
        assert windows.shape == (len(embedding_texts(row["section"], row["text"])), E5Embedder.DIM)
        mean = windows.mean(axis=0)
        assert np.allclose(np.asarray(row["vector"]), mean / np.linalg.norm(mean), atol=1e-5)
        several += len(windows) > 1
    assert several > len(rows) // 2  # most chunks hold several topics


def test_windows_are_runs_of_lines_of_a_least_length() -> None:
    text = "\n".join(["E001 | Netzspannung zu hoch", "", "E002 | Netzspannung zu niedrig", "E003 | Frequenz", "ok"])
    first, tail = "E001 | Netzspannung zu hoch\nE002 | Netzspannung zu niedrig", "E003 | Frequenz\nok"
    assert windows(text, size=30) == [first, tail]  # the tail is at least half of 30: a window of its own
    assert windows(text, size=40) == [f"{first}\n{tail}"]  # shorter than half of 40: joins the one before
    assert windows("Lüfter", size=160) == ["Lüfter"]
    assert embedding_texts("Fehlercodes", "E001 | Netzspannung zu hoch") == ["Fehlercodes\nE001 | Netzspannung zu hoch"]


def test_unchanged_manuals_are_copied_not_embedded_again(sample_kb: KnowledgeBase, kb_dir: Path, manuals: Path) -> None:
    query = "Passwort für erweiterte Einstellungen"
    before = [(p.file, p.page) for p in sample_kb.search(query, mode="vector")]
    shutil.rmtree(kb_dir / "cache")
    (manuals / "notes.md").write_text(NOTES_V1, encoding="utf-8")
    assert sample_kb.index([manuals]).version == 2
    # Only the new file went through the embedder (and so into the vector cache) …
    assert len(list((kb_dir / "cache" / "vectors").glob("*.npy"))) == 1
    # … while the sample's vectors were carried over unchanged.
    after = [(p.file, p.page) for p in sample_kb.search(query, mode="vector") if p.file == SAMPLE_NAME]
    assert after == [hit for hit in before if hit[0] == SAMPLE_NAME][: len(after)]
    assert after[0] == (SAMPLE_NAME, 7)


def _add_unreadable_files(folder: Path, sample_pdf: Path) -> set[str]:
    (folder / "x.pdf").write_bytes(random.Random(1).randbytes(4096))
    data = sample_pdf.read_bytes()
    (folder / "abgeschnitten.pdf").write_bytes(data[: len(data) // 2])
    (folder / "notiz.pdf").write_text("nur Text, kein PDF", encoding="utf-8")
    return {"x.pdf", "abgeschnitten.pdf", "notiz.pdf"}


def test_unreadable_files_are_skipped_and_reported(sample_kb: KnowledgeBase, manuals: Path, sample_pdf: Path) -> None:
    bad = _add_unreadable_files(manuals, sample_pdf)
    report = sample_kb.index([manuals])
    assert {name for name, _ in report.skipped} == bad
    for name, reason in report.skipped:
        assert reason.startswith(f"{name}:")
    assert report.added == ()
    assert files_of(sample_kb) == [SAMPLE_NAME]
    assert top(sample_kb, "E013") == (SAMPLE_NAME, 8)


def test_unreadable_file_does_not_force_a_new_version(
    sample_kb: KnowledgeBase, manuals: Path, sample_pdf: Path
) -> None:
    _add_unreadable_files(manuals, sample_pdf)
    first = sample_kb.index([manuals])
    second = sample_kb.index([manuals])
    assert second.version == first.version


def test_unreadable_new_version_keeps_the_last_good_one(
    sample_kb: KnowledgeBase, manuals: Path, sample_pdf: Path
) -> None:
    old_sha = sample_kb.documents()[0].sha256
    (manuals / SAMPLE_NAME).write_bytes(random.Random(2).randbytes(4096))  # the PDF got damaged
    report = sample_kb.index([manuals])
    assert [name for name, _ in report.skipped] == [SAMPLE_NAME]
    assert report.changed == report.removed == ()
    assert files_of(sample_kb) == [SAMPLE_NAME]
    assert sample_kb.documents()[0].sha256 == old_sha
    assert top(sample_kb, "E013") == (SAMPLE_NAME, 8)
    assert "Passwort für erweiterte Einstellungen: 0815" in sample_kb.page(SAMPLE_NAME, 7).lines


def test_rebuild_makes_a_new_version_of_everything(sample_kb: KnowledgeBase, sample_dir: Path) -> None:
    report = sample_kb.index([sample_dir], rebuild=True)
    assert report.version == 2
    # Re-indexed, not new: "added" means new to the index, so the admin's summary stays true.
    assert (report.added, report.changed, report.removed) == ((), (SAMPLE_NAME,), ())
    assert report.documents == 1
    assert report.chunks == len(parse_document(sample_dir / SAMPLE_NAME, SAMPLE_NAME).chunks)
    assert top(sample_kb, "E013") == (SAMPLE_NAME, 8)


def test_progress_is_reported(sample_kb: KnowledgeBase, manuals: Path) -> None:
    (manuals / "notes.md").write_text(NOTES_V1, encoding="utf-8")
    events: list[IndexProgress] = []
    report = sample_kb.index([manuals], progress=events.append)
    assert events
    assert "notes.md" in {e.current_file for e in events}
    last = events[-1]
    assert last.files_done == last.files_total == 2
    assert last.pages_done == last.pages_total == report.pages


def test_progress_completes_when_a_file_is_skipped(sample_kb: KnowledgeBase, manuals: Path) -> None:
    (manuals / "notes.md").write_text(NOTES_V1, encoding="utf-8")
    (manuals / "x.pdf").write_bytes(random.Random(3).randbytes(4096))
    events: list[IndexProgress] = []
    report = sample_kb.index([manuals], progress=events.append)
    assert [name for name, _ in report.skipped] == ["x.pdf"]
    last = events[-1]
    assert last.files_done == last.files_total == 3
    assert last.pages_done == last.pages_total == report.pages


def test_renamed_manual_is_added_and_the_old_name_removed(
    sample_kb: KnowledgeBase, kb_dir: Path, manuals: Path
) -> None:
    cached = sorted((kb_dir / "cache" / "vectors").glob("*.npy"))
    (manuals / SAMPLE_NAME).rename(manuals / "SF-5000TL.pdf")
    report = sample_kb.index([manuals])
    assert (report.version, report.added, report.removed) == (2, ("SF-5000TL.pdf",), (SAMPLE_NAME,))
    assert files_of(sample_kb) == ["SF-5000TL.pdf"]
    assert top(sample_kb, "E013") == ("SF-5000TL.pdf", 8)
    assert sorted((kb_dir / "cache" / "vectors").glob("*.npy")) == cached  # same content: no new embedding


def test_pages_without_text_are_reported(sample_kb: KnowledgeBase, manuals: Path, sample_pdf: Path) -> None:
    pdf_with_scanned_page(manuals / "mit_scan.pdf", sample_pdf)
    report = sample_kb.index([manuals])
    assert report.pages_without_text == (("mit_scan.pdf", 2),)
    assert "mit_scan.pdf" in files_of(sample_kb)


def test_folder_names_are_relative_and_hidden_or_foreign_files_ignored(sample_kb: KnowledgeBase, manuals: Path) -> None:
    (manuals / ".entwurf.md").write_text("# Entwurf\nnicht indexieren", encoding="utf-8")
    (manuals / "foto.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (manuals / "service").mkdir()
    (manuals / "service" / "notes.md").write_text(NOTES_V1, encoding="utf-8")
    report = sample_kb.index([manuals])
    assert report.added == ("service/notes.md",)
    assert files_of(sample_kb) == sorted([SAMPLE_NAME, "service/notes.md"])


@pytest.mark.parametrize("problem", ["missing", "empty", "not-a-manual"])
def test_bad_paths_raise_manuals_not_found(sample_kb: KnowledgeBase, tmp_path: Path, problem: str) -> None:
    if problem == "missing":
        path = tmp_path / "gibt-es-nicht"
    elif problem == "empty":
        path = tmp_path / "leer"
        path.mkdir()
    else:
        path = tmp_path / "handbuch.docx"
        path.write_bytes(b"PK\x03\x04")
    with pytest.raises(ManualsNotFound) as err:
        sample_kb.index([path])
    assert str(path.name) in str(err.value)
    assert sample_kb.state().version == 1
    assert top(sample_kb, "E013") == (SAMPLE_NAME, 8)


def test_invalid_catalog_is_refused_and_the_index_kept(sample_kb: KnowledgeBase, manuals: Path) -> None:
    (manuals / "catalog.toml").write_text("[[manual]\nfile = ", encoding="utf-8")
    (manuals / "notes.md").write_text(NOTES_V1, encoding="utf-8")
    with pytest.raises(CatalogInvalid, match=r"catalog\.toml"):
        sample_kb.index([manuals])
    assert sample_kb.state().version == 1
    assert top(sample_kb, "E013") == (SAMPLE_NAME, 8)


def test_catalog_change_is_picked_up(sample_kb: KnowledgeBase, manuals: Path) -> None:
    catalog = manuals / "catalog.toml"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace('"SolarFux"', '"Fux Energy"'), encoding="utf-8")
    assert "Fux Energy" in catalog.read_text(encoding="utf-8")
    sample_kb.index([manuals])
    assert sample_kb.documents()[0].manufacturer == "Fux Energy"


def test_second_writer_gets_index_busy(sample_kb: KnowledgeBase, kb_dir: Path, manuals: Path) -> None:
    (manuals / "notes.md").write_text(NOTES_V1, encoding="utf-8")
    with exclusive_build(kb_dir / "index.lock"):
        with pytest.raises(IndexBusy):
            sample_kb.index([manuals])
        assert sample_kb.search("E013")[0].page == 8  # readers are not blocked
    assert sample_kb.state().version == 1
    assert sample_kb.index([manuals]).version == 2  # the lock is free again


def test_index_built_by_another_embedder_is_refused(
    sample_kb: KnowledgeBase, kb_dir: Path, embedder: E5Embedder, sample_dir: Path
) -> None:
    hashed = open_kb(kb_dir, HashEmbedder())
    with pytest.raises(EmbedderMismatch) as err:
        hashed.search("E013")
    assert embedder.name in str(err.value) and "test-hash" in str(err.value)
    with pytest.raises(EmbedderMismatch):
        hashed.index([sample_dir])  # an incremental build would mix two vector spaces
    assert sample_kb.state().version == 1
    assert top(sample_kb, "E013") == (SAMPLE_NAME, 8)


def test_rebuild_switches_the_embedder(
    sample_kb: KnowledgeBase, kb_dir: Path, embedder: E5Embedder, sample_dir: Path
) -> None:
    hashed = open_kb(kb_dir, HashEmbedder())
    report = hashed.index([sample_dir], rebuild=True)
    assert report.version == 2
    assert hashed.state().embedder == "test-hash"
    assert top(hashed, "E013") == (SAMPLE_NAME, 8)
    with pytest.raises(EmbedderMismatch) as err:
        sample_kb.search("E013")
    assert embedder.name in str(err.value) and "test-hash" in str(err.value)


# --- crash safety: a real build in a child process, killed with SIGKILL ---------------------------

CRASH_NEW_FILES = ("Growatt_MIC600TL-X_DS-DE.pdf", "Growatt_MIC600TL-X_QUICK-DE.pdf", "SmartEVSEv3_install_v3.0.pdf")


@pytest.fixture
def bigger_collection(manuals: Path, corpus_pdfs: Path) -> Path:
    """The sample plus a few real corpus PDFs: a build that takes several seconds."""
    for name in CRASH_NEW_FILES:
        shutil.copy(corpus_file(corpus_pdfs, name), manuals / name)
    return manuals


def kill_build_midway(data_dir: Path, folder: Path) -> None:
    """Run ``nik index folder`` in a child process and SIGKILL it as soon as it has
    started writing version 2 (its ``chunks_v2`` table folder exists)."""
    started = data_dir / "lancedb" / "chunks_v2.lance"
    log = data_dir / "child-stderr.txt"
    with log.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "index", "--json", str(folder)],
            cwd=data_dir,
            env=subprocess_env(data_dir),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60.0
            while not started.exists():
                if child.poll() is not None:
                    pytest.fail(
                        f"the build ended (exit {child.returncode}) before it could be killed: "
                        f"{log.read_text(errors='replace')[-2000:]}"
                    )
                if time.monotonic() > deadline:
                    pytest.fail("the child build did not start version 2 within 60 s")
                time.sleep(0.02)
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert child.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_killed_build_leaves_the_old_index_serving(kb_dir: Path, embedder: E5Embedder, bigger_collection: Path) -> None:
    kill_build_midway(kb_dir, bigger_collection)
    assert "chunks_v2" in lance_tables(kb_dir, "chunks_v")  # it really died halfway

    kb = open_kb(kb_dir, embedder)
    assert kb.state().version == 1
    assert files_of(kb) == [SAMPLE_NAME]
    assert top(kb, "E013") == (SAMPLE_NAME, 8)

    report = kb.index([bigger_collection])  # the lock died with the child
    assert report.version == 2 and kb.state().version == 2
    assert sorted(report.added) == sorted(CRASH_NEW_FILES)
    assert files_of(kb) == sorted([SAMPLE_NAME, *CRASH_NEW_FILES])
    hits = [(p.file, p.page) for p in kb.search("SmartEVSE zeigt ERROR NO SERIAL COM", k=3)]
    assert ("SmartEVSEv3_install_v3.0.pdf", 2) in hits
    assert top(kb, "E013") == (SAMPLE_NAME, 8)
    assert lance_tables(kb_dir, "chunks_v") == {"chunks_v1", "chunks_v2"}
    assert lance_tables(kb_dir, "pages_v") == {"pages_v1", "pages_v2"}


@pytest.mark.slow
def test_next_run_drops_tables_of_a_killed_build(
    kb_dir: Path, embedder: E5Embedder, bigger_collection: Path, sample_dir: Path
) -> None:
    kill_build_midway(kb_dir, bigger_collection)
    kb = open_kb(kb_dir, embedder)
    report = kb.index([sample_dir])  # the collection of version 1: nothing to build
    assert report.version == 1
    assert lance_tables(kb_dir, "chunks_v") == {"chunks_v1"}
    assert lance_tables(kb_dir, "pages_v") == {"pages_v1"}
    assert top(kb, "E013") == (SAMPLE_NAME, 8)
