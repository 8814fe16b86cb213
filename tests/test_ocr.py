"""knowledge.ocr: rapidocr loads from the wheel without network, is shared by threads,
and reads scanned manual pages during indexing."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw

from helpers import HashEmbedder, open_kb
from knowledge.ingest import parse_document
from knowledge.ocr import OcrBox, RapidOcr, text_lines
from knowledge.service import KnowledgeBase
from photo_maker import font


def scan(lines: list[str]) -> Image.Image:
    """A page of printed text as a scanner delivers it: pixels only."""
    page = Image.new("L", (1240, 1754), 250)
    draw = ImageDraw.Draw(page)
    for number, line in enumerate(lines):
        draw.text((120, 160 + 70 * number), line, font=font(40), fill=20)
    return page


def scanned_pdf(path: Path, lines: list[str]) -> Path:
    pdf = FPDF()
    pdf.add_page()
    pdf.image(scan(lines), x=0, y=0, w=210, h=297)
    pdf.output(str(path))
    return path


def test_the_models_come_from_the_wheel_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("rapidocr tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    boxes = RapidOcr().read(scan(["Fehler E077 Isolationsfehler"]))
    assert [b.text for b in boxes] == ["Fehler E077 Isolationsfehler"]


def test_one_engine_serves_several_threads() -> None:
    ocr = RapidOcr()
    pages = [scan([f"Warnung W{n:02d}"]) for n in (11, 12, 13, 14)]
    with ThreadPoolExecutor(4) as pool:
        read = list(pool.map(lambda page: text_lines(ocr.read(page)), pages))
    assert read == [["Warnung W11"], ["Warnung W12"], ["Warnung W13"], ["Warnung W14"]]


def test_boxes_become_lines_and_cells() -> None:
    boxes = [
        OcrBox("408", 0.9, 120, 11, 160, 31),
        OcrBox("Error", 0.9, 40, 10, 110, 30),
        OcrBox("Überhitzung", 0.9, 400, 12, 560, 32),
        OcrBox("Neu starten", 0.9, 40, 60, 200, 80),
    ]
    assert text_lines(boxes) == ["Error 408 | Überhitzung", "Neu starten"]


def test_a_scanned_page_is_read_during_indexing(tmp_path: Path) -> None:
    manuals = tmp_path / "manuals"
    manuals.mkdir()
    pdf = scanned_pdf(manuals / "Scan_Handbuch.pdf", ["Fehlercodes", "E077 Isolationsfehler", "E078 Netzfrequenz"])
    assert parse_document(pdf, pdf.name).info.pages_without_text == (1,)
    parsed = parse_document(pdf, pdf.name, ocr=RapidOcr())
    assert parsed.info.pages_without_text == () and parsed.info.ocr_pages == (1,)
    assert "E077 Isolationsfehler" in parsed.pages[0].lines

    # indexed without OCR first: the next run with OCR reads the scan, later runs leave it be
    kb = open_kb(tmp_path / "data", HashEmbedder())
    assert kb.index([manuals]).pages_without_text == (("Scan_Handbuch.pdf", 1),)
    data = tmp_path / "data"
    with_ocr = KnowledgeBase(str(data / "lancedb"), data, HashEmbedder(), refresh_seconds=0.0, ocr=RapidOcr())
    report = with_ocr.index([manuals])
    assert report.changed == ("Scan_Handbuch.pdf",) and report.pages_without_text == ()
    assert with_ocr.search("E077", k=1).passages[0].page == 1
    assert with_ocr.index([manuals]).changed == ()
