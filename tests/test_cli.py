"""``nik``: the command line, its JSON output and its one-line refusals."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.cli import main
from helpers import SAMPLE_NAME, flat, pdf_with_scanned_page
from knowledge.index import exclusive_build
from knowledge.ingest import parse_document

INDEX_KEYS = {"documents", "pages", "chunks", "added", "changed", "removed", "seconds"}
SEARCH_KEYS = {"file", "title", "page", "score", "text"}
EVAL_KEYS = {"n", "hit@1", "hit@5", "doc_hit@5", "mrr", "unanswerable_detected", "by_kind"}


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Nik = Callable[..., Run]


@pytest.fixture
def nik(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Nik:
    """Run ``nik ARGS…`` in-process; environment variables come from ``clean_env``."""

    def run(*argv: str) -> Run:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def indexed(clean_env: pytest.MonkeyPatch, kb_dir: Path) -> Path:
    """NIK_DATA_DIR points at this test's copy of the sample index."""
    clean_env.setenv("NIK_DATA_DIR", str(kb_dir))
    return kb_dir


def search_json(nik: Nik, query: str = "E013") -> list[dict[str, Any]]:
    run = nik("search", query, "--json")
    assert run.code == 0, run.err
    rows: list[dict[str, Any]] = run.json()
    return rows


# --- index / search / docs / eval --------------------------------------------------------------------


def test_index_json_from_the_manuals_dir(
    nik: Nik, clean_env: pytest.MonkeyPatch, tmp_path: Path, manuals: Path
) -> None:
    clean_env.setenv("NIK_DATA_DIR", str(tmp_path / "data"))
    clean_env.setenv("NIK_MANUALS_DIR", str(manuals))
    first = nik("index", "--json")
    assert first.code == 0, first.err
    report = first.json()
    assert set(report) >= INDEX_KEYS
    expected_chunks = len(parse_document(manuals / SAMPLE_NAME, SAMPLE_NAME).chunks)
    assert (report["documents"], report["pages"], report["chunks"]) == (1, 10, expected_chunks)
    assert (report["added"], report["changed"], report["removed"]) == (1, 0, 0)
    assert isinstance(report["seconds"], int | float) and report["seconds"] >= 0
    assert (tmp_path / "data" / "lancedb").is_dir()

    again = nik("index", "--json", str(manuals)).json()
    assert (again["documents"], again["added"], again["changed"], again["removed"]) == (1, 0, 0, 0)


def test_index_human_output(nik: Nik, indexed: Path, manuals: Path) -> None:
    (manuals / "notes.md").write_text("# Notizen\nKugellager KL-77 bestellen.\n", encoding="utf-8")
    run = nik("index", str(manuals))
    assert run.code == 0, run.err
    assert "2 Handbücher" in run.out and "neu 1" in run.out


def test_index_names_pages_without_text(nik: Nik, indexed: Path, manuals: Path, sample_pdf: Path) -> None:
    pdf_with_scanned_page(manuals / "mit_scan.pdf", sample_pdf)
    run = nik("index", str(manuals))
    assert run.code == 0, run.err
    assert "Seiten ohne Textebene" in run.out
    assert "mit_scan.pdf S. 2" in flat(run.out)


def test_search_json(nik: Nik, indexed: Path) -> None:
    rows = search_json(nik, "E013")
    assert rows and all(set(row) == SEARCH_KEYS for row in rows)
    assert (rows[0]["file"], rows[0]["page"]) == (SAMPLE_NAME, 8)
    assert "E013 Fehlerstrom zu hoch (GFCI)" in rows[0]["text"]
    scores = [row["score"] for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert len(nik("search", "Lüfter", "-k", "2", "--json").json()) == 2
    assert nik("search", "E013", "--product", "Growatt", "--json").json() == []
    fts = nik("search", "E013", "--mode", "fts", "--json").json()
    assert (fts[0]["file"], fts[0]["page"]) == (SAMPLE_NAME, 8)


def test_search_human_output(nik: Nik, indexed: Path) -> None:
    found = nik("search", "Passwort für erweiterte Einstellungen")
    assert found.code == 0
    assert "S. 7" in found.out and SAMPLE_NAME in flat(found.out)
    doubtful = nik("search", "Fronius Symo Statuscode 1173")
    assert doubtful.code == 0
    assert "Keine sichere Fundstelle" in doubtful.out


def test_docs_json(nik: Nik, indexed: Path) -> None:
    run = nik("docs", "--json")
    assert run.code == 0
    [doc] = run.json()
    assert doc["file"] == SAMPLE_NAME and doc["pages"] == 10
    assert doc["manufacturer"] == "SolarFux" and "SF-5000TL" in doc["products"]
    table = nik("docs")
    assert table.code == 0 and "SolarFux" in table.out


QUESTIONS = [
    {"id": "s1", "question": "Was bedeutet Fehler E013?", "file": SAMPLE_NAME, "pages": [8], "kind": "error_code"},
    {
        "id": "s2",
        "question": "Passwort für erweiterte Einstellungen",
        "file": SAMPLE_NAME,
        "pages": [7],
        "kind": "config",
    },
    {"id": "s3", "question": "Welche Schutzart hat der SF-5000TL?", "file": SAMPLE_NAME, "pages": [4], "kind": "spec"},
    {
        "id": "s4",
        "question": "Fronius Symo Statuscode 1173 was bedeutet das?",
        "file": None,
        "pages": [],
        "kind": "unanswerable",
    },
]


def test_eval_all_modes_json(nik: Nik, indexed: Path, tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS) + "\n", encoding="utf-8")
    run = nik("eval", str(qa), "--mode", "all", "--json")
    assert run.code == 0, run.err
    modes = run.json()["modes"]
    assert set(modes) == {"hybrid", "fts", "vector"}
    for report in modes.values():
        assert set(report) >= EVAL_KEYS
        assert report["n"] == len(QUESTIONS)
        assert set(report["by_kind"]) == {"error_code", "config", "spec", "unanswerable"}
        for key in ("hit@1", "hit@5", "doc_hit@5", "mrr", "unanswerable_detected"):
            assert 0.0 <= report[key] <= 1.0
        assert report["doc_hit@5"] == 1.0  # one manual indexed: every answerable question hits it
        assert report["unanswerable_detected"] == 1.0  # Fronius is not indexed
    assert modes["hybrid"]["hit@5"] == 1.0
    assert modes["hybrid"]["by_kind"]["error_code"]["hit@1"] == 1.0


def test_eval_single_mode_table(nik: Nik, indexed: Path, tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps(QUESTIONS[0]) + "\n", encoding="utf-8")
    run = nik("eval", str(qa))
    assert run.code == 0 and "hybrid" in run.out


def test_eval_bad_question_files(nik: Nik, indexed: Path, tmp_path: Path) -> None:
    missing = nik("eval", str(tmp_path / "fehlt.jsonl"), "--json")
    assert missing.code == 2 and "fehlt.jsonl" in flat(missing.err)
    broken = tmp_path / "kaputt.jsonl"
    broken.write_text(json.dumps(QUESTIONS[0]) + "\n{not json\n", encoding="utf-8")
    run = nik("eval", str(broken), "--json")
    assert run.code == 2 and "kaputt.jsonl:2" in flat(run.err)


def test_search_without_an_index(nik: Nik, clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("NIK_DATA_DIR", str(tmp_path / "leer"))
    run = nik("search", "E013", "--json")
    assert run.code == 2
    assert run.out == ""
    assert "nik index" in flat(run.err)


# --- bad input -----------------------------------------------------------------------------------------


def bad_path(kind: str, tmp_path: Path) -> Path:
    if kind == "missing":
        return tmp_path / "handbuecher" / "gibt-es-nicht"
    path = tmp_path / "leerer-ordner"
    path.mkdir()
    return path


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_bad_path_is_refused_and_the_index_kept(nik: Nik, indexed: Path, tmp_path: Path, kind: str) -> None:
    before = search_json(nik)
    path = bad_path(kind, tmp_path)
    run = nik("index", str(path))
    assert run.code == 2
    assert run.err.startswith("Fehler:")
    assert str(path) in flat(run.err)
    assert search_json(nik) == before


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_bad_path_message_is_one_line(nik: Nik, indexed: Path, tmp_path: Path, kind: str) -> None:
    run = nik("index", str(bad_path(kind, tmp_path)))
    assert run.code == 2
    assert len(run.err.strip().splitlines()) == 1, run.err


def write_unreadable(kind: str, folder: Path, sample_pdf: Path) -> str:
    """One unreadable manual in ``folder``; returns its name."""
    if kind == "random-bytes":
        (folder / "x.pdf").write_bytes(random.Random(408).randbytes(8192))
        return "x.pdf"
    if kind == "truncated":
        data = sample_pdf.read_bytes()
        (folder / "abgeschnitten.pdf").write_bytes(data[: len(data) // 3])
        return "abgeschnitten.pdf"
    (folder / "notiz.pdf").write_text("Kein PDF: Notizen vom Einsatz am 3. März.\n", encoding="utf-8")
    return "notiz.pdf"


UNREADABLE = ["random-bytes", "truncated", "text"]


@pytest.mark.parametrize("kind", UNREADABLE)
def test_single_unreadable_file_is_refused_and_the_index_kept(
    nik: Nik, indexed: Path, tmp_path: Path, sample_pdf: Path, kind: str
) -> None:
    before = search_json(nik)
    folder = tmp_path / "einzeln"
    folder.mkdir()
    name = write_unreadable(kind, folder, sample_pdf)
    run = nik("index", str(folder / name))
    assert search_json(nik) == before
    assert run.code == 2
    assert name in flat(run.err)


@pytest.mark.parametrize("kind", UNREADABLE)
def test_unreadable_file_in_a_collection_is_skipped(
    nik: Nik, indexed: Path, manuals: Path, sample_pdf: Path, kind: str
) -> None:
    before = search_json(nik)
    name = write_unreadable(kind, manuals, sample_pdf)

    run = nik("index", str(manuals))
    assert run.code == 0, run.err
    assert f"{name}:" in flat(run.out + run.err)
    assert search_json(nik) == before

    strict = nik("index", "--strict", str(manuals))
    assert strict.code == 1

    report = nik("index", "--json", str(manuals)).json()
    assert [entry[0] for entry in report["skipped"]] == [name]
    assert report["skipped"][0][1].startswith(f"{name}:")
    assert search_json(nik) == before


def test_invalid_catalog_is_refused(nik: Nik, indexed: Path, manuals: Path) -> None:
    before = search_json(nik)
    (manuals / "catalog.toml").write_text("[[manual]\nfile = ", encoding="utf-8")
    (manuals / "notes.md").write_text("# Notizen\nKugellager KL-77 bestellen.\n", encoding="utf-8")
    run = nik("index", str(manuals))
    assert run.code == 2
    assert "catalog.toml" in flat(run.err)
    assert search_json(nik) == before


def test_index_busy(nik: Nik, indexed: Path, manuals: Path) -> None:
    (manuals / "notes.md").write_text("# Notizen\nKugellager KL-77 bestellen.\n", encoding="utf-8")
    with exclusive_build(indexed / "index.lock"):
        run = nik("index", str(manuals))
    assert run.code == 2
    assert "already running" in flat(run.err)


def test_other_embedder_is_refused(nik: Nik, indexed: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("NIK_EMBEDDER", "use")
    run = nik("search", "E013", "--json")
    assert run.code == 2
    message = flat(run.err)
    assert "e5-small" in message and "use-multilingual" in message
    assert "--rebuild" in message


# --- configuration -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("variable", "value"), [("NIK_EMBEDDER", "bogus"), ("NIK_LOG_LEVEL", "laut")])
def test_invalid_configuration(
    nik: Nik, indexed: Path, clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)
    for argv in (("search", "E013"), ("docs",), ("index", "--json")):
        run = nik(*argv)
        assert run.code == 2
        assert run.out == ""
        assert variable in flat(run.err)


# --- forget -------------------------------------------------------------------------------------------


def test_forget_deletes_a_user_everywhere_and_prints_the_counts(nik: Nik, indexed: Path) -> None:
    for chat in ("c1", "c2"):
        assert nik("ask", "Kanarienvogel: was bedeutet E013?", "--chat", chat, "--user", "anna").code == 0
    assert nik("ask", "Was bedeutet E013?", "--chat", "c2", "--user", "ben").code == 0
    run = nik("forget", "--platform", "console", "--user", "anna", "--json")
    assert run.code == 0, run.err
    assert run.json() == {"messages": 4, "chats": 1, "users": 1}  # c1 was hers alone; c2 stays for Ben
    human = nik("forget", "--platform", "console", "--user", "anna")
    assert human.code == 0 and "nichts gespeichert" in human.out
    assert nik("forget", "--platform", "console", "--user", "ben", "--json").json() == {
        "messages": 2,
        "chats": 1,
        "users": 1,
    }
    with pytest.raises(SystemExit) as refused:  # argparse refuses an unknown platform
        nik("forget", "--platform", "fax", "--user", "x")
    assert refused.value.code == 2


# --- report -------------------------------------------------------------------------------------------


def test_report_prints_the_days_and_writes_the_csv(nik: Nik, indexed: Path, tmp_path: Path) -> None:
    kinds = Counter[str]()
    for chat, question in (
        ("c1", "Was bedeutet E013?"),
        ("c1", "Wie hoch ist der Eiffelturm?"),
        ("c2", "Was bedeutet E013?"),
    ):
        run = nik("ask", question, "--chat", chat, "--json")
        assert run.code == 0, run.err
        kinds[run.json()["kind"]] += 1
    out = tmp_path / "report.csv"
    run = nik("report", "--since", "7d", "--csv", str(out))
    assert run.code == 0, run.err
    assert f"Fragen: {sum(kinds.values())}\n" in run.out and f"beantwortet: {kinds['answer']} (" in run.out
    assert f"nicht in den Handbüchern: {kinds['not_found']} (" in run.out and "Eiffelturm" in run.out
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["tag", "fragen", "beantwortet", "rueckfrage", "nicht_in_handbuechern", "an_support"]
    assert len(rows) == 1 + 8  # seven days back and today
    today = datetime.now(UTC).date().isoformat()
    assert rows[-1] == [today, str(sum(kinds.values())), str(kinds["answer"]), "0", str(kinds["not_found"]), "0"]
    assert all(row[1:] == ["0"] * 5 for row in rows[1:-1])
    refused = nik("report", "--since", "zwei Wochen")
    assert refused.code == 2 and "24h" in refused.err and "\n" not in refused.err.strip()
