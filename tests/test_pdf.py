"""The pieces of ``/pdf``: page lists, file names, the cap, and the "📄 PDF" button's 64-byte limit."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest

from bot.core.messages import CALLBACK_DATA_BYTES, Answer, Citation
from bot.core.pdf import MAX_PAGES, pdf_button
from knowledge.errors import DocumentNotFound
from knowledge.excerpt import excerpt, file_name, page_label, parse_pages

SAMPLE = Path(__file__).resolve().parents[1] / "knowledge" / "sample" / "manuals" / "SolarFux_SF-5000TL_Handbuch.pdf"


def test_page_lists_are_read_the_way_technicians_write_them() -> None:
    assert parse_pages("12") == (12,)
    assert parse_pages("12-14") == (12, 13, 14)
    assert parse_pages("12,14") == (12, 14)
    assert parse_pages("14, 12-13,12") == (14, 12, 13)
    assert parse_pages("1-999999999", limit=21) == tuple(range(1, 22))
    for bad in ("", "x", "0", "5-3", "12-", "-3", "1..4"):
        assert parse_pages(bad) is None
    assert page_label((12, 13, 14, 20)) == "12-14,20"


def test_the_file_name_is_the_title_and_pages_without_unsafe_characters() -> None:
    assert file_name("SolarFux SF-5000TL", (12, 13, 14)) == "SolarFux SF-5000TL S. 12-14.pdf"
    assert file_name('A/B: "C"?', (3,)) == "A B C S. 3.pdf"
    assert len(file_name("x" * 500, tuple(range(1, 80, 2)))) <= 130


def test_an_excerpt_holds_exactly_the_pages_and_refuses_missing_ones() -> None:
    pdf = pdfium.PdfDocument(excerpt(SAMPLE, (4, 2)))
    original = pdfium.PdfDocument(SAMPLE)
    assert len(pdf) == 2
    assert pdf[0].get_textpage().get_text_range() == original[3].get_textpage().get_text_range()
    with pytest.raises(DocumentNotFound):
        excerpt(SAMPLE, (11,))


def test_the_pdf_button_names_the_cited_pages_and_fits_the_callback_limit() -> None:
    cites = (
        Citation("SolarFux_SF-5000TL_Handbuch.pdf", "SolarFux", 14),
        Citation("SolarFux_SF-5000TL_Handbuch.pdf", "SolarFux", 12),
    )
    [button] = pdf_button(Answer("…", cites)).buttons
    assert button.label == "📄 PDF" and button.command == "/pdf SolarFux_SF-5000TL_Handbuch.pdf 12,14"

    long = "Growatt_Inverter_Modbus_RTU_Protocol_II_V1.24_EN_2024.pdf"
    [short] = pdf_button(Answer("…", (Citation(long, "Growatt", 3),))).buttons
    assert short.command == f"/pdf {Path(long).stem} 3" and len(short.data.encode()) <= CALLBACK_DATA_BYTES

    too_long = "Ein_sehr_langer_Handbuchname_der_auch_ohne_Endung_nicht_passt_v12.pdf"
    assert pdf_button(Answer("…", (Citation(too_long, "X", 3),))).buttons == ()
    assert pdf_button(Answer("…", kind="answer")).buttons == ()
    assert pdf_button(Answer("…", cites, kind="info")).buttons == ()
    many = tuple(Citation("a.pdf", "A", n) for n in range(1, 60, 2))
    [capped] = pdf_button(Answer("…", many)).buttons
    assert capped.command.startswith("/pdf a.pdf 1,3,5,") and len(capped.data.encode()) <= CALLBACK_DATA_BYTES
    assert len(capped.command.split()[-1].split(",")) < MAX_PAGES
    ten = tuple(Citation("a.pdf", "A", n) for n in range(30, 5, -1))
    [ranged] = pdf_button(Answer("…", ten)).buttons
    assert ranged.command == f"/pdf a.pdf 6-{5 + MAX_PAGES}"
