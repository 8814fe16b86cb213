"""knowledge.ingest: files → pages → chunks, and clear refusals for unreadable files."""

from __future__ import annotations

import hashlib
import itertools
import random
from pathlib import Path

import pytest

from helpers import SAMPLE_NAME, corpus_file, pdf_with_scanned_page, write_pdf
from knowledge.catalog import CatalogEntry
from knowledge.errors import DocumentUnreadable
from knowledge.ingest import ParsedDocument, parse_document


@pytest.fixture(scope="module")
def sample(sample_pdf: Path) -> ParsedDocument:
    return parse_document(sample_pdf, SAMPLE_NAME)


def test_sample_document_info(sample: ParsedDocument, sample_pdf: Path) -> None:
    info = sample.info
    assert info.file == SAMPLE_NAME
    assert info.pages == 10 and len(sample.pages) == 10
    assert [p.number for p in sample.pages] == list(range(1, 11))
    assert info.language == "de"
    assert "SolarFux SF-5000TL" in info.title
    assert "SF-5000TL" in info.products
    assert info.sha256 == hashlib.sha256(sample_pdf.read_bytes()).hexdigest()
    assert info.pages_without_text == ()


def test_sample_pages_hold_the_printed_facts(sample: ParsedDocument) -> None:
    assert "Passwort für erweiterte Einstellungen: 0815" in sample.pages[6].lines
    assert "Schutzart | IP65" in sample.pages[3].lines
    assert any(line.startswith("E013 Fehlerstrom zu hoch (GFCI)") for line in sample.pages[7].lines)


def test_every_page_is_chunked_and_chunks_are_cited(sample: ParsedDocument) -> None:
    assert {c.page for c in sample.chunks} == set(range(1, 11))
    assert all(c.file == SAMPLE_NAME for c in sample.chunks)
    keys = [(c.page, c.ordinal) for c in sample.chunks]
    assert len(keys) == len(set(keys))
    e013 = [c for c in sample.chunks if "E013 Fehlerstrom zu hoch (GFCI)" in c.text]
    assert [c.page for c in e013] == [8]


def test_running_header_and_footer_stay_out_of_chunks(sample: ParsedDocument) -> None:
    for page in sample.pages:
        header, footer = page.lines[0], page.lines[-1]
        assert "Version 1.2, Stand 01/2026" in header  # printed on every page…
        assert f"Seite {page.number} von 10" in footer
        chunk_lines = {line for c in sample.chunks if c.page == page.number for line in c.text.split("\n")}
        assert header not in chunk_lines and footer not in chunk_lines  # …but not content


def test_chunk_section_is_the_heading_the_chunk_opens_with(sample: ParsedDocument) -> None:
    # In the sample every numbered chapter starts on its own page: chapter N is page N + 1.
    first = {c.page: c for c in sample.chunks if c.ordinal == 0}
    for page in range(2, 11):
        assert first[page].text.startswith(f"{page - 1} ")  # the chapter heading opens the chunk
        assert first[page].section.startswith(f"{page - 1} "), (page, first[page].section)


def test_catalog_entry_names_manufacturer_products_and_aliases(sample_pdf: Path) -> None:
    entry = CatalogEntry(
        file=SAMPLE_NAME, manufacturer="SolarFux", products=("SF-5000TL", "SF-6000TL"), aliases=("Solar Fux",)
    )
    parsed = parse_document(sample_pdf, SAMPLE_NAME, entry)
    assert parsed.info.manufacturer == "SolarFux"
    assert parsed.info.products == ("SF-5000TL", "SF-6000TL")
    assert "Solar Fux" in parsed.descriptor and "SF-6000TL" in parsed.descriptor
    titled = parse_document(sample_pdf, SAMPLE_NAME, CatalogEntry(file=SAMPLE_NAME, title="Fux Handbuch"))
    assert titled.info.title == "Fux Handbuch"


def test_growatt_error_table_survives_into_chunks(corpus_pdfs: Path) -> None:
    name = "Growatt_MIC600TL-X_MAN-DE.pdf"
    parsed = parse_document(corpus_file(corpus_pdfs, name), name)
    assert parsed.info.pages == 27
    assert parsed.info.manufacturer == "Growatt"
    page23 = [c for c in parsed.chunks if c.page == 23]
    assert any("Error: 405 Relais-Fehler" in c.text for c in page23)
    assert any("Error: 408 Überhitzung" in c.text for c in page23)


def test_aes_encrypted_pdf_with_empty_password_opens(corpus_pdfs: Path) -> None:
    path = corpus_file(corpus_pdfs, "Growatt_MIC600TL-X_NA-SCHUTZ_MIC_600.pdf")
    assert b"/Encrypt" in path.read_bytes()  # it really is encrypted
    parsed = parse_document(path, path.name)
    assert parsed.info.pages == 3
    assert all(page.lines for page in parsed.pages)
    assert "Zertifikat für den Netz- und Anlagenschutz" in parsed.pages[0].lines
    assert parsed.chunks


def test_pdf_with_a_user_password_is_refused(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "geheim.pdf", [("P", "Geheimes Handbuch")], user_password="secret")
    with pytest.raises(DocumentUnreadable, match="password") as err:
        parse_document(path, path.name)
    assert str(err.value).startswith("geheim.pdf")


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(405).randbytes(8192))


def _truncated_sample(path: Path, sample: Path) -> None:
    data = sample.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("kind", ["random-bytes", "truncated", "text", "empty"])
def test_unreadable_files_raise_document_unreadable(kind: str, tmp_path: Path, sample_pdf: Path) -> None:
    path = tmp_path / "x.pdf"
    if kind == "random-bytes":
        _random_bytes(path)
    elif kind == "truncated":
        _truncated_sample(path, sample_pdf)
    elif kind == "text":
        path.write_text("Dies ist kein PDF, nur Text mit der falschen Endung.\n", encoding="utf-8")
    else:
        path.write_bytes(b"")
    with pytest.raises(DocumentUnreadable) as err:
        parse_document(path, "x.pdf")
    assert str(err.value).startswith("x.pdf:")


def test_blank_pages_are_reported_as_without_text(tmp_path: Path, sample_pdf: Path) -> None:
    path = pdf_with_scanned_page(tmp_path / "mit_scan.pdf", sample_pdf)
    parsed = parse_document(path, path.name)
    assert parsed.info.pages == 2
    assert parsed.info.pages_without_text == (2,)
    assert {c.page for c in parsed.chunks} == {1}


def test_markdown_pages_title_and_language(tmp_path: Path) -> None:
    path = tmp_path / "notizen.md"
    path.write_text(
        "# Servicenotizen Wechselrichter\n\nDer Lüfter ist nicht mit dem Gehäuse verschraubt und wird getauscht.\n"
        "\fZweite Seite: die Sicherung ist 16 A.\n",
        encoding="utf-8",
    )
    parsed = parse_document(path, "notizen.md")
    assert parsed.info.title == "Servicenotizen Wechselrichter"
    assert parsed.info.pages == 2
    assert parsed.pages[1].lines == ("Zweite Seite: die Sicherung ist 16 A.",)
    assert parsed.info.language == "de"
    assert {c.page for c in parsed.chunks} == {1, 2}


def test_long_page_is_split_at_lines_with_overlap(tmp_path: Path) -> None:
    lines = [f"Zeile {i:02d}: " + "Wartungshinweis für den Techniker im Feld. " * 2 for i in range(40)]
    lines = [line.strip() for line in lines]
    path = tmp_path / "lang.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    chunks = parse_document(path, "lang.txt").chunks
    assert len(chunks) > 2
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert all(line in lines for line in chunk.text.split("\n"))  # cut at line boundaries only
    for before, after in itertools.pairwise(chunks):
        assert before.text.split("\n")[-1] in after.text.split("\n")  # the tail is carried over
    covered = {line for c in chunks for line in c.text.split("\n")}
    assert covered == set(lines)


def test_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "alt.txt"
    path.write_bytes("Überhitzung".encode("utf-16"))
    with pytest.raises(DocumentUnreadable, match="UTF-8"):
        parse_document(path, "alt.txt")
