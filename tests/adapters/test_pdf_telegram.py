"""``/pdf`` through ``nik serve`` against the fake Bot API: the asked pages as a real PDF
(sendDocument), the "📄 PDF" button under a cited answer, ``/pdf`` alone after an answer,
and a refusal when the excerpt is over ``NIK_PDF_MAX_BYTES``."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
from telegram_fake import FakeTelegram
from telegram_helpers import serving, settings_for

from knowledge.excerpt import file_name
from knowledge.service import KnowledgeBase

CHAT = 100
SAMPLE = Path(__file__).resolve().parents[2] / "knowledge" / "sample" / "manuals" / "SolarFux_SF-5000TL_Handbuch.pdf"


def page_texts(data: bytes) -> list[str]:
    pdf = pdfium.PdfDocument(bytes(data))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def sample_texts(pages: list[int]) -> list[str]:
    pdf = pdfium.PdfDocument(SAMPLE)
    try:
        return [pdf[n - 1].get_textpage().get_text_range() for n in pages]
    finally:
        pdf.close()


async def test_pdf_sends_exactly_the_asked_pages_under_the_manuals_title(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    [doc] = sample_kb.documents()
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb):
        api.push(api.message(CHAT, text="/pdf SolarFux_SF-5000TL_Handbuch 3-5"))
        await api.wait_for(lambda: len(api.of("sendDocument", CHAT)) == 1)
        [sent] = api.of("sendDocument", CHAT)
        assert sent["document"][:5] == b"%PDF-"
        assert page_texts(sent["document"]) == sample_texts([3, 4, 5])
        assert sent["document_filename"] == file_name(doc.title, [3, 4, 5])
        assert sent["document_filename"].endswith(" S. 3-5.pdf") and "/" not in sent["document_filename"]
        assert f"{doc.title}, S. 3-5" in sent["caption"]

        api.push(api.message(CHAT, text="/pdf SolarFux_SF-5000TL_Handbuch.pdf 7,2"))  # the order asked
        await api.wait_for(lambda: len(api.of("sendDocument", CHAT)) == 2)
        assert page_texts(api.of("sendDocument", CHAT)[1]["document"]) == sample_texts([7, 2])

        api.push(api.message(CHAT, text="/pdf SolarFux_SF-5000TL_Handbuch 9-11"))
        await api.wait_for(lambda: any("Seiten 1–10" in t for t in api.texts(CHAT)))
        assert len(api.of("sendDocument", CHAT)) == 2


async def test_a_cited_answer_has_a_pdf_button_and_pdf_alone_sends_its_pages(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api), sample_kb):
        api.push(api.message(CHAT, text="/pdf"))
        await api.wait_for(lambda: any("noch keine Antwort mit Quellen" in t for t in api.texts(CHAT)))

        api.push(api.message(CHAT, text="Was bedeutet Fehler E013?"))
        await api.wait_for(lambda: any("E013" in t for t in api.texts(CHAT)))
        answer = next(c for c in api.of("sendMessage", CHAT) if "E013" in c["text"])
        rows = answer["reply_markup"]["inline_keyboard"]
        [pdf] = [b for row in rows for b in row if b["text"] == "📄 PDF"]
        assert pdf["callback_data"].startswith("cmd:/pdf SolarFux_SF-5000TL_Handbuch")
        assert len(pdf["callback_data"].encode()) <= 64
        pages = [int(p) for p in pdf["callback_data"].rsplit(" ", 1)[1].replace("-", ",").split(",")]

        api.push(api.press(CHAT, api.sent_message(0), pdf["callback_data"]))
        await api.wait_for(lambda: len(api.of("sendDocument", CHAT)) == 1)
        pressed = api.of("sendDocument", CHAT)[0]["document"]
        assert page_texts(pressed)[0] == sample_texts(pages[:1])[0]

        api.push(api.message(CHAT, text="/pdf"))
        await api.wait_for(lambda: len(api.of("sendDocument", CHAT)) == 2)
        assert page_texts(api.of("sendDocument", CHAT)[1]["document"]) == page_texts(pressed)


async def test_an_excerpt_over_the_limit_is_refused_with_its_size_and_a_hint(
    sample_kb: KnowledgeBase, kb_dir: Path
) -> None:
    async with FakeTelegram() as api, serving(settings_for(kb_dir, api, NIK_PDF_MAX_BYTES=3000), sample_kb):
        api.push(api.message(CHAT, text="/pdf SolarFux 1-10"))
        await api.wait_for(lambda: any("höchstens" in t for t in api.texts(CHAT)))
        [refusal] = [t for t in api.texts(CHAT) if "höchstens" in t]
        assert "KB groß" in refusal and "höchstens 3 KB" in refusal and "Seiten 1-10" in refusal
        assert "/pdf SolarFux_SF-5000TL_Handbuch.pdf 1" in refusal
        assert api.of("sendDocument", CHAT) == []
