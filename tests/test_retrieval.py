"""Retrieval: hybrid search finds the cited page, admits when the manuals do not cover a question."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from helpers import SAMPLE_NAME, open_kb, write_pdf
from knowledge.embedder import E5Embedder
from knowledge.models import SearchResult
from knowledge.retriever import _with_closest
from knowledge.service import KnowledgeBase

GROWATT = "Growatt_MIC600TL-X_MAN-DE.pdf"
SMARTEVSE = "SmartEVSEv3_install_v3.0.pdf"
MODES = ("hybrid", "fts", "vector")


def hits(result: SearchResult) -> list[tuple[str, int]]:
    return [(p.file, p.page) for p in result]


def assert_well_formed(result: SearchResult, k: int) -> None:
    """At most k passages, one per page, best first."""
    assert len(result) <= k
    assert len(set(hits(result))) == len(result)
    scores = [p.score for p in result]
    assert scores == sorted(scores, reverse=True)


# --- the embedder ----------------------------------------------------------------------------------


def test_e5_vectors_are_normalised_and_deterministic(embedder: E5Embedder) -> None:
    texts = ["Error: 405 Relais-Fehler", "Schutzart IP65"]
    first, again = embedder.passages(texts), embedder.passages(texts)
    assert first.shape == (2, embedder.dim) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-3)
    assert np.array_equal(first, again)
    assert embedder.passages([]).shape == (0, embedder.dim)
    query = embedder.query("Relaisfehler am Wechselrichter")
    assert query.shape == (embedder.dim,)
    assert float(first[0] @ query) > float(first[1] @ query)


# --- the sample manual (fast) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "page", "printed"),
    [
        ("E013", 8, "E013 Fehlerstrom zu hoch (GFCI)"),
        ("Fehler E-13", 8, "E013 Fehlerstrom zu hoch (GFCI)"),
        ("was bedeutet W08", 8, "W08 Lüfter verschmutzt (Warnung)"),
        ("Passwort für erweiterte Einstellungen", 7, "Passwort für erweiterte Einstellungen: 0815"),
        ("Welche Schutzart hat der SF-5000TL?", 4, "Schutzart | IP65"),
    ],
)
def test_sample_questions_find_their_page(sample_kb: KnowledgeBase, query: str, page: int, printed: str) -> None:
    result = sample_kb.search(query)
    assert result.confident, result.reason
    assert hits(result)[0] == (SAMPLE_NAME, page)
    assert any(line.startswith(printed) for line in result[0].text.split("\n"))
    assert result[0].title == sample_kb.documents()[0].title
    assert_well_formed(result, 5)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_answers(sample_kb: KnowledgeBase, mode: str) -> None:
    result = sample_kb.search("Passwort für erweiterte Einstellungen", k=3, mode=mode)  # type: ignore[arg-type]
    assert (SAMPLE_NAME, 7) in hits(result)
    assert_well_formed(result, 3)


def test_k_limits_the_passages(sample_kb: KnowledgeBase) -> None:
    assert len(sample_kb.search("Lüfter", k=2)) == 2
    assert len(sample_kb.search("Lüfter", k=1)) == 1


@pytest.mark.parametrize(
    "query",
    ["SolarFux Fehler E999", "Fronius Symo Statuscode 1173", "Kaffeemaschine entkalken", "   "],
)
def test_sample_unanswerable_questions_are_not_confident(sample_kb: KnowledgeBase, query: str) -> None:
    result = sample_kb.search(query)
    assert result.confident is False
    assert result.reason


def test_off_topic_question_is_not_confident(sample_kb: KnowledgeBase) -> None:
    result = sample_kb.search("Wie hoch ist der Eiffelturm?")
    assert result.confident is False


def test_the_absent_signal_is_the_share_of_the_topic_no_manual_contains(sample_kb: KnowledgeBase) -> None:
    known = dict(sample_kb.search("Passwort für erweiterte Einstellungen").signals)
    half = dict(sample_kb.search("Passwort für die Gulaschsuppe").signals)
    unknown = dict(sample_kb.search("Rezept Gulaschsuppe Paprika").signals)
    assert known["absent"] == 0.0
    assert 0.0 < half["absent"] < 1.0
    assert unknown["absent"] == 1.0
    result = sample_kb.search("Rezept Gulaschsuppe Paprika")
    assert result.confident is False and "no manual in scope" in result.reason


def test_a_candidate_is_as_close_as_its_closest_window(sample_kb: KnowledgeBase) -> None:
    """Both candidate lists carry, per chunk, the cosine of the window of lines closest to
    the question (what the fusion ranks by), not that of the chunk's mean vector (which the
    candidate search uses)."""
    retriever, state, chunks = sample_kb.retriever, sample_kb.state(), sample_kb.chunks_table()
    plan = retriever.plan(state, "Was bedeutet Fehler E013?", chunks=chunks)
    pool = retriever.pool(chunks, plan, "hybrid", 10)
    stored = {
        (r["file"], r["page"], r["ordinal"]): r
        for r in chunks.search().select(["file", "page", "ordinal", "vector", "windows"]).limit(1000).to_list()
    }
    assert pool.fts and pool.vec
    gaps = []
    for row in [*pool.fts, *pool.vec]:
        own = stored[(row["file"], row["page"], row["ordinal"])]
        windows = np.asarray(own["windows"], dtype=np.float32) @ plan.vector
        assert row["closest"] == pytest.approx(float(windows.max()), abs=1e-5)
        gaps.append(row["closest"] - float(np.asarray(own["vector"], dtype=np.float32) @ plan.vector))
    assert max(abs(gap) for gap in gaps) > 0.01


def test_an_index_without_window_vectors_is_ranked_by_its_chunk_vectors() -> None:
    """Until the next ``nik index`` after the upgrade, an index of the earlier pipeline has
    only the chunk's ``vector``: its candidates are as close as that vector."""
    query = np.array([1.0, 0.0], dtype=np.float32)
    dim = pa.list_(pa.float32(), 2)
    old = pa.table({"file": ["a.pdf", "b.pdf"], "vector": pa.array([[0.6, 0.8], [1.0, 0.0]], type=dim)})
    new = pa.table(
        {"file": ["a.pdf", "b.pdf"], "windows": pa.array([[[0.0, 1.0], [0.8, 0.6]], [[0.6, 0.8]]], type=pa.list_(dim))}
    )
    assert [(r["file"], round(float(r["closest"]), 3)) for r in _with_closest(old, query, "vector")] == [
        ("a.pdf", 0.6),
        ("b.pdf", 1.0),
    ]
    assert [(r["file"], round(float(r["closest"]), 3)) for r in _with_closest(new, query)] == [
        ("a.pdf", 0.8),
        ("b.pdf", 0.6),
    ]


def test_product_filter_on_the_sample(sample_kb: KnowledgeBase) -> None:
    assert hits(sample_kb.search("E013", product="SF-6000TL"))[0] == (SAMPLE_NAME, 8)  # from catalog.toml
    other = sample_kb.search("E013", product="Growatt")
    assert other.passages == () and other.confident is False


class ReversingReranker:
    """A stand-in for the Cohere reranker: ranks the fused list backwards."""

    def __init__(self) -> None:
        self.calls = 0

    def rerank(self, query: str, texts: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        self.calls += 1
        return [(i, float(i)) for i in reversed(range(len(texts)))][:top_n]


class FailingReranker:
    def rerank(self, query: str, texts: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        raise ConnectionError("rerank service unreachable")


def test_reranker_orders_hybrid_results(kb_dir: Path, embedder: E5Embedder, sample_kb: KnowledgeBase) -> None:
    plain = sample_kb.search("Lüfter reinigen", k=30)
    reranker = ReversingReranker()
    reranked = KnowledgeBase(str(kb_dir / "lancedb"), kb_dir, embedder, reranker=reranker).search(
        "Lüfter reinigen", k=30
    )
    assert reranker.calls == 1
    assert hits(reranked) == list(reversed(hits(plain)))


def test_failing_reranker_keeps_the_fused_order(kb_dir: Path, embedder: E5Embedder, sample_kb: KnowledgeBase) -> None:
    kb = KnowledgeBase(str(kb_dir / "lancedb"), kb_dir, embedder, reranker=FailingReranker())
    assert hits(kb.search("E013")) == hits(sample_kb.search("E013"))


def test_search_sees_a_build_made_by_another_instance(kb_dir: Path, embedder: E5Embedder, manuals: Path) -> None:
    reader, writer = open_kb(kb_dir, embedder), open_kb(kb_dir, embedder)
    assert all(p.file == SAMPLE_NAME for p in reader.search("Kugellager KL-77"))
    (manuals / "notes.md").write_text("# Notizen\nKugellager KL-77 für den Lüfter bestellen.\n", encoding="utf-8")
    writer.index([manuals])
    assert hits(reader.search("Kugellager KL-77"))[0] == ("notes.md", 1)


# --- real corpus manuals ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("query", ["growatt fehler 405", "Error 405", "Was bedeutet Error 405 beim Growatt MIC?"])
def test_error_code_405_finds_the_growatt_table(corpus_kb: KnowledgeBase, query: str) -> None:
    result = corpus_kb.search(query)
    assert (GROWATT, 23) in hits(result)[:3]
    assert result.confident, result.reason
    assert_well_formed(result, 5)


@pytest.mark.slow
@pytest.mark.parametrize("query", ["Error 408", "error408", "Fehler 408", "growatt error408", "ERROR: 408"])
def test_error_code_408_variants_find_the_page(corpus_kb: KnowledgeBase, query: str) -> None:
    assert (GROWATT, 23) in hits(corpus_kb.search(query))[:3]


@pytest.mark.slow
@pytest.mark.parametrize(
    "query",
    ["Fehler 408", "growatt mic zeigt error 408 was is das", "Error 408", "error408"],
)
def test_error_code_passage_shows_the_code_row(corpus_kb: KnowledgeBase, query: str) -> None:
    """The cited passage of page 23 is the chunk holding the row, not a neighbour on the page."""
    result = corpus_kb.search(query)
    passage = next(p for p in result if (p.file, p.page) == (GROWATT, 23))
    assert any("Error: 408" in line and "Überhitzung" in line for line in passage.text.split("\n"))
    assert result.confident, result.reason


@pytest.mark.slow
def test_german_question_about_english_manual(corpus_kb: KnowledgeBase) -> None:
    result = corpus_kb.search("SmartEVSE zeigt ERROR NO SERIAL COM, was heißt das")
    assert hits(result)[0] == (SMARTEVSE, 2)
    assert "ERROR NO SERIAL COM" in result[0].text
    assert result.confident, result.reason


@pytest.mark.slow
def test_german_glossary_question_about_english_manual(corpus_kb: KnowledgeBase) -> None:
    """German "wieviele … karten … speichern" must meet "A maximum of 20 RFID cards can be stored"."""
    result = corpus_kb.search("wieviele rfid karten kann die smartevse speichern")
    assert hits(result)[0] == (SMARTEVSE, 1)
    assert "A maximum of 20 RFID cards can be stored." in result[0].text
    assert result.confident, result.reason


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "page"),
    [
        ("welchen FI brauch ich vor dem growatt mic, nennfehlerstrom?", 12),
        ("darf der growatt mic draußen hängen? schutzart", 10),
        ("Passwort für erweiterte einstellungen growatt MIC?", 20),
        ("standard COM adresse beim growatt mic", 19),
    ],
)
def test_technician_questions_on_growatt(corpus_kb: KnowledgeBase, query: str, page: int) -> None:
    result = corpus_kb.search(query)
    assert (GROWATT, page) in hits(result)[:3]
    assert {p.file for p in result} == {GROWATT}  # the question names Growatt
    assert result.confident, result.reason


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "query",
    [
        "Fronius Symo Statuscode 1173",
        "Fronius Symo GEN24 Statuscode 1173 was bedeutet das?",
        "Huawei SUN2000 alarm 2001 string spannung hoch was tun",
        "anzugsdrehmoment klemmen keba p30 wallbox?",
        "Sunny Island CAN bus abschlusswiderstand welcher wert?",  # SMA is not indexed here
    ],
)
def test_brand_not_in_the_index_is_not_confident(corpus_kb: KnowledgeBase, query: str, mode: str) -> None:
    result = corpus_kb.search(query, mode=mode)  # type: ignore[arg-type]
    assert result.confident is False
    assert "no indexed manual covers" in result.reason


@pytest.mark.slow
@pytest.mark.parametrize(("product", "file"), [("SmartEVSE", SMARTEVSE), ("MIC600TL-X", GROWATT), ("growatt", GROWATT)])
def test_product_filter_restricts_files(corpus_kb: KnowledgeBase, product: str, file: str) -> None:
    result = corpus_kb.search("error fault fehler", k=10, product=product)
    assert result.passages
    assert {p.file for p in result} == {file}


@pytest.mark.slow
def test_product_filter_without_match(corpus_kb: KnowledgeBase) -> None:
    result = corpus_kb.search("Fehler 405", product="Fronius")
    assert result.passages == () and result.confident is False


@pytest.mark.slow
def test_brand_in_question_scopes_the_search(corpus_kb: KnowledgeBase) -> None:
    assert {p.file for p in corpus_kb.search("growatt fehler", k=10)} == {GROWATT}


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_modes_on_the_corpus(corpus_kb: KnowledgeBase, mode: str) -> None:
    result = corpus_kb.search("SmartEVSE zeigt ERROR NO SERIAL COM, was heißt das", k=3, mode=mode)  # type: ignore[arg-type]
    assert (SMARTEVSE, 2) in hits(result)
    assert_well_formed(result, 3)


def test_a_named_document_kind_names_the_manual() -> None:
    """ "laut Datenblatt" names the datasheet (file name "..._DS-DE.pdf"), "Kurzanleitung" the quick guide."""
    from knowledge.retriever import name_tokens

    assert "datasheet" in name_tokens("wie lange garantie laut datenblatt")
    assert "datasheet" in name_tokens("Growatt_MIC600TL-X_DS-DE.pdf")
    assert "quickguide" in name_tokens("Growatt_MIC600TL-X_QUICK-DE.pdf")
    assert "quickguide" in name_tokens("laut kurzanleitung")


def test_a_dotted_version_number_names_the_edition() -> None:
    """ "smartevse 2.16" names "SmartEVSEv2.2_install_v2.16.pdf"; a date is no version."""
    from knowledge.retriever import name_tokens

    assert "2.16" in name_tokens("smartevse 2.16 im solar modus")
    assert {"2.2", "2.16"} <= set(name_tokens("SmartEVSEv2.2_install_v2.16.pdf"))
    assert not {"24.05", "05.20"} & set(name_tokens("Stand 24.05.2019"))


def test_german_words_an_english_manual_cannot_print_do_not_make_it_unanswerable(corpus_kb: KnowledgeBase) -> None:
    """The SmartEVSE manual is English: a German word with no translation ("Reihenfolge")
    is not evidence that the manual lacks the topic, but the German manual's words are."""
    result = corpus_kb.search("smartevse in welcher reihenfolge schließ ich den stromzähler an")
    assert dict(result.signals)["absent"] < 0.5
    covered = corpus_kb.search("growatt mic in welcher reihenfolge kaffeemaschine entkalken")
    assert dict(covered.signals)["absent"] > 0.5


def test_a_table_of_contents_is_not_cited_for_the_section_it_lists(tmp_path: Path, embedder: E5Embedder) -> None:
    """A contents line ("7 Lüfter tauschen ........ 3") holds the question's words but
    does not answer it: the page of the section comes first."""
    contents = "\n".join(
        f"{n} {title} {'.' * 40} {n + 1}"
        for n, title in enumerate(
            ["Sicherheit", "Montage", "Lüfter tauschen am Wechselrichter", "Displaymeldungen", "Technische Daten"],
            start=1,
        )
    )
    pdf = write_pdf(
        tmp_path / "Solarix_Handbuch.pdf",
        [
            ("P", f"Inhaltsverzeichnis\n{contents}"),
            ("P", "2 Montage\nDen Wechselrichter senkrecht an eine feste Wand schrauben. Abstand 30 cm."),
            (
                "P",
                "3 Wartung\nDer Lüfter sitzt unter der Abdeckung. Vier Schrauben lösen, den Stecker ziehen, "
                "das neue Teil einsetzen und die Abdeckung wieder anschrauben.",
            ),
            ("P", "4 Displaymeldungen\nF01 Netzspannung zu hoch. F02 Isolationsfehler."),
        ],
    )
    kb = open_kb(tmp_path / "data", embedder)
    kb.index([pdf])
    result = kb.search("wie tausche ich den lüfter am wechselrichter", k=3)
    assert result.passages and result.passages[0].page == 3


@pytest.mark.slow
def test_two_swapped_letters_are_read_as_the_word_the_manuals_print(corpus_kb: KnowledgeBase) -> None:
    """ "seiral" is in no manual; swapped back it is "serial", which the SmartEVSE page prints."""
    result = corpus_kb.search("smartevse zeigt error no seiral comm, was is da los")
    assert hits(result)[:1] == [(SMARTEVSE, 2)]
    assert result.confident
