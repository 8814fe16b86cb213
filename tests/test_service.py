"""KnowledgeBase beyond search: documents, pages, whole manuals, page images."""

from __future__ import annotations

import hashlib
import io
import shutil
from datetime import datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops

from helpers import PNG_MAGIC, SAMPLE_NAME, open_kb, write_pdf
from knowledge.embedder import E5Embedder
from knowledge.errors import DocumentNotFound, IndexMissing
from knowledge.ingest import parse_document
from knowledge.service import RENDER_LONG_SIDE, KnowledgeBase


def png(data: bytes) -> Image.Image:
    assert data.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


def pdf_is_landscape(path: Path, number: int) -> bool:
    pdf = pdfium.PdfDocument(path)
    try:
        width, height = pdf[number - 1].get_size()
        return width > height
    finally:
        pdf.close()


# --- documents and state ---------------------------------------------------------------------------


def test_documents_describe_the_indexed_manual(
    sample_kb: KnowledgeBase, sample_pdf: Path, embedder: E5Embedder
) -> None:
    [doc] = sample_kb.documents()
    assert doc.file == SAMPLE_NAME and doc.pages == 10 and doc.language == "de"
    assert doc.manufacturer == "SolarFux"  # from the folder's catalog.toml
    assert {"SF-3000TL", "SF-5000TL", "SF-6000TL"} <= set(doc.products)
    assert doc.sha256 == hashlib.sha256(sample_pdf.read_bytes()).hexdigest()
    assert datetime.fromisoformat(doc.indexed_at).tzinfo is not None
    state = sample_kb.state()
    assert state.version == 1 and state.embedder == embedder.name and state.dim == embedder.dim
    assert [d.info for d in state.documents] == [doc]


def test_nothing_indexed_raises_index_missing(tmp_path: Path, embedder: E5Embedder) -> None:
    kb = open_kb(tmp_path, embedder)
    for call in (lambda: kb.search("E013"), kb.documents, lambda: kb.page(SAMPLE_NAME, 1)):
        with pytest.raises(IndexMissing, match="nik index"):
            call()


# --- pages ------------------------------------------------------------------------------------------


def test_page_returns_the_printed_lines(sample_kb: KnowledgeBase) -> None:
    page = sample_kb.page(SAMPLE_NAME, 7)
    assert page.number == 7
    assert "Passwort für erweiterte Einstellungen: 0815" in page.lines
    assert "Schutzart | IP65" in sample_kb.page(SAMPLE_NAME, 4).lines


@pytest.mark.parametrize(
    "name", [SAMPLE_NAME, SAMPLE_NAME.lower(), "SolarFux_SF-5000TL_Handbuch", " SOLARFUX_SF-5000TL_HANDBUCH.PDF "]
)
def test_manual_is_found_by_name_or_stem_case_insensitive(sample_kb: KnowledgeBase, name: str) -> None:
    assert sample_kb.page(name, 8).number == 8


@pytest.mark.parametrize("number", [0, -1, 11])
def test_page_out_of_range(sample_kb: KnowledgeBase, number: int) -> None:
    with pytest.raises(DocumentNotFound, match="1–10"):
        sample_kb.page(SAMPLE_NAME, number)


def test_unknown_manual(sample_kb: KnowledgeBase) -> None:
    for call in (
        lambda: sample_kb.page("Fronius_Symo.pdf", 1),
        lambda: sample_kb.full_document("Fronius_Symo.pdf"),
        lambda: sample_kb.render_page("Fronius_Symo.pdf", 1),
    ):
        with pytest.raises(DocumentNotFound, match=r"Fronius_Symo\.pdf"):
            call()


def test_full_document_equals_the_parsed_pages(sample_kb: KnowledgeBase, sample_pdf: Path) -> None:
    parsed = parse_document(sample_pdf, SAMPLE_NAME)
    pages = sample_kb.full_document(SAMPLE_NAME)
    assert [p.number for p in pages] == list(range(1, 11))
    assert [p.lines for p in pages] == [p.lines for p in parsed.pages]


def test_full_document_selected_pages_in_order(sample_kb: KnowledgeBase) -> None:
    pages = sample_kb.full_document(SAMPLE_NAME, pages=[8, 2])
    assert [p.number for p in pages] == [2, 8]
    assert any(line.startswith("E013") for line in pages[1].lines)


def test_names_with_quotes_and_folders(sample_kb: KnowledgeBase, manuals: Path) -> None:
    (manuals / "service").mkdir()
    (manuals / "service" / "O'Neil notes.md").write_text(
        "# O'Neil Notizen\nLüfter quietscht\fSeite zwei: Lager KL-77\n", encoding="utf-8"
    )
    sample_kb.index([manuals])
    assert sample_kb.page("O'Neil notes.md", 2).lines == ("Seite zwei: Lager KL-77",)
    assert [p.number for p in sample_kb.full_document("service/O'Neil notes.md")] == [1, 2]
    result = sample_kb.search("Lager KL-77", product="O'Neil")
    assert [(p.file, p.page) for p in result][:1] == [("service/O'Neil notes.md", 2)]


# --- page images ------------------------------------------------------------------------------------


def test_render_page_is_a_png_of_the_page(sample_kb: KnowledgeBase, sample_pdf: Path) -> None:
    image = png(sample_kb.render_page(SAMPLE_NAME, 8))
    assert abs(max(image.size) - RENDER_LONG_SIDE) <= 1
    assert (image.width > image.height) == pdf_is_landscape(sample_pdf, 8)
    darkest = image.convert("L").getextrema()[0]
    assert isinstance(darkest, int | float) and darkest < 100  # there is dark ink (text) on it


def test_render_different_pages_differ(sample_kb: KnowledgeBase) -> None:
    page8 = sample_kb.render_page(SAMPLE_NAME, 8)
    page2 = sample_kb.render_page(SAMPLE_NAME, 2)
    assert page8 != page2
    a, b = png(page8).convert("RGB"), png(page2).convert("RGB")
    assert a.size == b.size
    assert ImageChops.difference(a, b).getbbox() is not None


def test_render_size_can_be_chosen(sample_kb: KnowledgeBase) -> None:
    assert abs(max(png(sample_kb.render_page(SAMPLE_NAME, 1, long_side=400)).size) - 400) <= 1


def test_render_portrait_and_landscape_pages(sample_kb: KnowledgeBase, manuals: Path) -> None:
    path = write_pdf(
        manuals / "formate.pdf",
        [("P", "Hochformat: Anschlussplan des Wechselrichters"), ("L", "Querformat: Fehlertabelle Übersicht")],
    )
    sample_kb.index([manuals])
    for number in (1, 2):
        image = png(sample_kb.render_page("formate.pdf", number))
        assert (image.width > image.height) == pdf_is_landscape(path, number)
    assert pdf_is_landscape(path, 2) and not pdf_is_landscape(path, 1)


@pytest.mark.parametrize("number", [0, 11])
def test_render_page_out_of_range(sample_kb: KnowledgeBase, number: int) -> None:
    with pytest.raises(DocumentNotFound):
        sample_kb.render_page(SAMPLE_NAME, number)


def test_render_page_of_a_text_manual(sample_kb: KnowledgeBase, manuals: Path) -> None:
    (manuals / "notes.md").write_text("# Notizen\nKugellager KL-77\n", encoding="utf-8")
    sample_kb.index([manuals])
    with pytest.raises(DocumentNotFound, match="not a PDF"):
        sample_kb.render_page("notes.md", 1)


def test_render_page_when_the_pdf_is_gone(seeded_cache: Path, embedder: E5Embedder, manuals: Path) -> None:
    kb = open_kb(seeded_cache, embedder)
    kb.index([manuals])
    (manuals / SAMPLE_NAME).unlink()
    with pytest.raises(DocumentNotFound, match="no longer"):
        kb.render_page(SAMPLE_NAME, 1)
    assert kb.page(SAMPLE_NAME, 8).lines  # the text is still served from the index


def test_render_page_after_the_manuals_folder_moved(
    seeded_cache: Path, embedder: E5Embedder, manuals: Path, tmp_path: Path
) -> None:
    kb = open_kb(seeded_cache, embedder)
    kb.index([manuals])
    moved = tmp_path / "handbuecher"
    shutil.move(manuals, moved)
    kb.index([moved])
    assert png(kb.render_page(SAMPLE_NAME, 8))
