"""knowledge.layout: table rows stay whole lines, two-up spreads read as two columns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from helpers import corpus_file
from knowledge.layout import Line, page_lines


def lines_of(path: Path, number: int) -> list[Line]:
    """``page_lines`` of the 1-based page ``number``."""
    pdf = pdfium.PdfDocument(path)
    try:
        page = pdf[number - 1]
        try:
            return page_lines(page)
        finally:
            page.close()
    finally:
        pdf.close()


@pytest.fixture(scope="module")
def growatt_p23(corpus_pdfs: Path) -> list[Line]:
    return lines_of(corpus_file(corpus_pdfs, "Growatt_MIC600TL-X_MAN-DE.pdf"), 23)


def texts(lines: list[Line]) -> Iterator[str]:
    return (line.text for line in lines)


def test_growatt_error_rows_are_single_lines(growatt_p23: list[Line]) -> None:
    assert [t for t in texts(growatt_p23) if "Error: 405" in t and "Relais-Fehler" in t]
    assert [t for t in texts(growatt_p23) if "Error: 408" in t and "Überhitzung" in t]


def test_growatt_spread_is_read_as_two_columns(growatt_p23: list[Line]) -> None:
    """Page 23 is a landscape two-up spread: warnings on the left half, errors on the
    right. Lines must not mix both halves, and the left half is read first."""
    all_text = list(texts(growatt_p23))
    assert not [t for t in all_text if "Warning" in t and "Error:" in t]
    first_error = next(i for i, t in enumerate(all_text) if "Error: " in t)
    last_warning = max(i for i, t in enumerate(all_text) if t.startswith("Warning"))
    assert last_warning < first_error


def test_heading_is_larger_than_table_text(growatt_p23: list[Line]) -> None:
    heading = next(line for line in growatt_p23 if line.text == "11.4 Wechselrichterfehler")
    row = next(line for line in growatt_p23 if "Error: 405" in line.text)
    assert heading.size > row.size


def test_sample_error_table_row_keeps_its_cells(sample_pdf: Path) -> None:
    rows = [t for t in texts(lines_of(sample_pdf, 8)) if t.startswith("E013")]
    assert len(rows) == 1
    assert rows[0].split(" | ") == [
        "E013 Fehlerstrom zu hoch (GFCI)",
        "Ableitstrom > 300 mA",
        "DC trennen, Isolation prüfen, neu starten",
    ]


def test_sample_rows_read_top_to_bottom(sample_pdf: Path) -> None:
    page = list(texts(lines_of(sample_pdf, 8)))
    order = [next(i for i, t in enumerate(page) if t.startswith(p)) for p in ("7 Fehlercodes", "E001", "E013", "W08")]
    assert order == sorted(order)


def test_sample_technical_data_row(sample_pdf: Path) -> None:
    assert "Schutzart | IP65" in list(texts(lines_of(sample_pdf, 4)))


def test_page_without_text_layer_has_no_lines(tmp_path: Path) -> None:
    pdf = pdfium.PdfDocument.new()
    pdf.new_page(595, 842)
    path = tmp_path / "blank.pdf"
    pdf.save(path)
    pdf.close()
    assert lines_of(path, 1) == []


def test_table_turned_on_its_page_reads_as_rows(corpus_pdfs: Path) -> None:
    """SMA's CAN protocol prints its alarm table turned by 90° (pdfium's char angle 270):
    each alarm's row must come out as one readable line, not a column of letters."""
    lines = list(texts(lines_of(corpus_file(corpus_pdfs, "SMA_CAN_protocol.pdf"), 25)))
    row = next(t for t in lines if t.startswith("External Alarm 12") and "0x35A" in t)
    assert "internal" in row
    assert "Byte 2, Bit 6: BMS internal arrives" in lines
    assert sum(len(t) <= 2 for t in lines) <= len(lines) // 10  # no runs of single letters
