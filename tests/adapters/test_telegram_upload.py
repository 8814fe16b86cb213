"""Manuals uploaded from the chat through ``nik serve`` against the fake Bot API.

Real python-telegram-bot, inbox, dispatcher, SQLite and LanceDB; the offline engine;
real PDFs written with fpdf2; a private copy of the sample manuals folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from telegram_fake import FakeTelegram
from telegram_helpers import serving, settings_for

from adapters.serve import Server
from bot.core.uploads import NOT_ADMIN, NOT_PDF, PROTECTED
from helpers import SAMPLE_NAME, write_pdf
from knowledge.service import KnowledgeBase

ADMIN = 42
OTHER = 7
CHAT = 100
TERM = "Quarzfilter-Spülventil QF-77"
PAGES = [
    ("P", f"Zyklotron ZX-900 Wartungshandbuch\n\nFehler Q77: Das {TERM} ist verstopft. Ventil ausbauen und spülen."),
    ("P", "Technische Daten\n\nNennleistung 900 W. Schutzart IP65."),
]


def manual_pdf(tmp_path: Path, pages: list[tuple[str, str]] = PAGES, password: str | None = None) -> bytes:
    return write_pdf(tmp_path / "upload-source.pdf", pages, user_password=password).read_bytes()


def texts(api: FakeTelegram) -> list[str]:
    """What Nik wrote into the chat: sent messages and the edits of its notes."""
    return [
        c.params["text"] for c in api.calls if c.method in ("sendMessage", "editMessageText") and "text" in c.params
    ]


async def indexed(api: FakeTelegram, before: int) -> None:
    """Until the reindex note after the first ``before`` texts says it is done."""
    await api.wait_for(lambda: any("Index aktualisiert" in t for t in texts(api)[before:]), 90)


async def settled(api: FakeTelegram, server: Server) -> None:
    await api.wait_for(lambda: api.pending == 0)
    await server.nik.dispatcher.drain()


def last_buttons(api: FakeTelegram) -> list[str]:
    markup: dict[str, Any] = api.of("sendMessage", CHAT)[-1].get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_an_admins_pdf_is_stored_indexed_and_cited_in_the_same_session(
    sample_kb: KnowledgeBase, kb_dir: Path, manuals: Path, tmp_path: Path
) -> None:
    async with FakeTelegram() as api:
        settings = settings_for(kb_dir, api, NIK_ADMINS=f"telegram:{ADMIN}", NIK_MANUALS_DIR=str(manuals))
        async with serving(settings, sample_kb) as server:
            api.push(api.document(CHAT, manual_pdf(tmp_path), name="ZX-900 Wartung.pdf", user_id=ADMIN))
            await indexed(api, 0)
            before = len(api.texts(CHAT))
            api.push(api.message(CHAT, text="Was bedeutet Fehler Q77 beim ZX-900?", user_id=ADMIN))
            await api.wait_for(lambda: len(api.texts(CHAT)) > before)
            await settled(api, server)
            api.push(api.message(CHAT, text="/docs", user_id=ADMIN))
            await api.wait_for(lambda: len(api.texts(CHAT)) > before + 1)
    assert (manuals / "ZX-900 Wartung.pdf").is_file()
    assert texts(api)[0].startswith("Gespeichert als „ZX-900 Wartung.pdf“")
    answer = api.texts(CHAT)[before]
    assert "QF-77" in answer and "Quellen" in answer and "ZX-900" in answer.split("Quellen")[1]
    assert "ZX-900 Wartung.pdf" in api.texts(CHAT)[-1]  # /docs lists it


async def test_malicious_names_are_stored_sanitised_inside_the_manuals_folder(
    sample_kb: KnowledgeBase, kb_dir: Path, manuals: Path, tmp_path: Path
) -> None:
    data = manual_pdf(tmp_path)
    async with FakeTelegram() as api:
        settings = settings_for(kb_dir, api, NIK_ADMINS=f"telegram:{ADMIN}", NIK_MANUALS_DIR=str(manuals))
        async with serving(settings, sample_kb) as server:
            api.push(api.document(CHAT, data, name="../../etc/passwd.pdf", user_id=ADMIN))
            await indexed(api, 0)
            before = len(texts(api))
            api.push(api.document(CHAT, data, name="..\\.x.pdf", user_id=ADMIN))
            await indexed(api, before)
            await settled(api, server)
    assert sorted(p.name for p in manuals.glob("*.pdf")) == sorted([SAMPLE_NAME, "passwd.pdf", "x.pdf"])
    assert not (tmp_path / "etc").exists() and not (kb_dir.parent / "etc").exists()
    assert all(p.parent == manuals for p in tmp_path.rglob("passwd.pdf"))


async def test_non_pdfs_protected_pdfs_and_non_admins_are_refused_and_nothing_is_stored(
    sample_kb: KnowledgeBase, kb_dir: Path, manuals: Path, tmp_path: Path
) -> None:
    async with FakeTelegram() as api:
        settings = settings_for(kb_dir, api, NIK_ADMINS=f"telegram:{ADMIN}", NIK_MANUALS_DIR=str(manuals))
        async with serving(settings, sample_kb) as server:
            api.push(api.document(CHAT, b"MZ\x90\x00 not a pdf", name="tool.pdf", user_id=ADMIN))
            api.push(api.document(CHAT, manual_pdf(tmp_path, password="geheim"), name="locked.pdf", user_id=ADMIN))
            other = api.push(api.document(OTHER, manual_pdf(tmp_path), name="mine.pdf", user_id=OTHER))
            await api.wait_for(lambda: len(api.texts(CHAT)) == 2 and len(api.texts(OTHER)) == 1)
            await settled(api, server)
    assert api.texts(CHAT) == [NOT_PDF, PROTECTED]
    assert api.texts(OTHER) == [NOT_ADMIN]
    assert other["message"]["document"]["file_id"] not in api.downloads  # a non-admin's file is not even fetched
    assert [p.name for p in manuals.glob("*.pdf")] == [SAMPLE_NAME]
    assert not api.of("editMessageText")  # no reindex started


async def test_a_file_over_the_bot_api_limit_gets_the_note_without_any_download(
    sample_kb: KnowledgeBase, kb_dir: Path, manuals: Path, tmp_path: Path
) -> None:
    async with FakeTelegram() as api:
        settings = settings_for(kb_dir, api, NIK_ADMINS=f"telegram:{ADMIN}", NIK_MANUALS_DIR=str(manuals))
        async with serving(settings, sample_kb) as server:
            api.push(api.document(CHAT, manual_pdf(tmp_path), name="big.pdf", size=21 * 1024 * 1024, user_id=ADMIN))
            await api.wait_for(lambda: bool(api.texts(CHAT)))
            await settled(api, server)
    [note] = api.texts(CHAT)
    assert "20,0 MB" in note and "zu groß" in note
    assert api.downloads == [] and api.of("getFile") == []
    assert [p.name for p in manuals.glob("*.pdf")] == [SAMPLE_NAME]


async def test_a_same_named_manual_is_replaced_only_after_replace_yes(
    sample_kb: KnowledgeBase, kb_dir: Path, manuals: Path, tmp_path: Path
) -> None:
    original = (manuals / SAMPLE_NAME).read_bytes()
    data = manual_pdf(tmp_path)
    async with FakeTelegram() as api:
        settings = settings_for(kb_dir, api, NIK_ADMINS=f"telegram:{ADMIN}", NIK_MANUALS_DIR=str(manuals))
        async with serving(settings, sample_kb) as server:
            api.push(api.document(CHAT, data, name=SAMPLE_NAME, user_id=ADMIN))
            await api.wait_for(lambda: bool(api.texts(CHAT)))
            await settled(api, server)
            asked, buttons = api.texts(CHAT)[-1], last_buttons(api)
            held = (manuals / SAMPLE_NAME).read_bytes()
            api.push(api.message(CHAT, text="/replace no", user_id=ADMIN))
            api.push(api.message(CHAT, text="/replace yes", user_id=ADMIN))  # nothing open any more
            await api.wait_for(lambda: len(api.texts(CHAT)) == 3)
            await settled(api, server)
            kept = (manuals / SAMPLE_NAME).read_bytes()
            api.push(api.document(CHAT, data, name=SAMPLE_NAME, user_id=ADMIN))
            await api.wait_for(lambda: len(api.texts(CHAT)) == 4)
            await settled(api, server)
            api.push(api.press(CHAT, api.sent_message(), "cmd:/replace yes", user_id=ADMIN))
            await indexed(api, len(texts(api)))
    assert asked.endswith("ersetzen? (Gilt 5 Minuten.)") and buttons == ["cmd:/replace yes", "cmd:/replace no"]
    assert held == original and kept == original
    assert api.texts(CHAT)[1:3] == [
        "Abgebrochen – das vorhandene Handbuch bleibt, wie es ist.",
        "Es gibt nichts zu bestätigen (die Rückfrage gilt 5 Minuten).",
    ]
    assert (manuals / SAMPLE_NAME).read_bytes() == data
    assert not list((kb_dir / "uploads").rglob("*.pdf"))  # the staging folder is empty again


async def test_remove_asks_then_deletes_and_the_manual_drops_out_of_docs(
    sample_kb: KnowledgeBase, kb_dir: Path, manuals: Path, tmp_path: Path
) -> None:
    async with FakeTelegram() as api:
        settings = settings_for(kb_dir, api, NIK_ADMINS=f"telegram:{ADMIN}", NIK_MANUALS_DIR=str(manuals))
        async with serving(settings, sample_kb) as server:
            api.push(api.document(CHAT, manual_pdf(tmp_path), name="ZX-900.pdf", user_id=ADMIN))
            await indexed(api, 0)
            await settled(api, server)
            api.push(api.message(CHAT, text="/remove gibtsnicht", user_id=ADMIN))
            api.push(api.message(CHAT, text="/remove zx-900", user_id=ADMIN))
            await api.wait_for(lambda: len(api.texts(CHAT)) == 4)
            await settled(api, server)
            unknown, asked = api.texts(CHAT)[2:4]
            buttons = last_buttons(api)
            still_there = (manuals / "ZX-900.pdf").is_file()
            api.push(api.press(CHAT, api.sent_message(), "cmd:/remove yes", user_id=OTHER))  # not an admin
            api.push(api.press(CHAT, api.sent_message(), "cmd:/remove yes", user_id=ADMIN))
            await indexed(api, len(texts(api)))
            await settled(api, server)
            before = len(api.texts(CHAT))
            api.push(api.message(CHAT, text="/docs", user_id=ADMIN))
            await api.wait_for(lambda: len(api.texts(CHAT)) > before)
    assert "/docs" in unknown and asked.startswith("„ZX-900.pdf“ löschen")
    assert buttons == ["cmd:/remove yes", "cmd:/remove no"] and still_there
    assert "Das dürfen nur" in api.texts(CHAT)[4] or NOT_ADMIN in api.texts(CHAT)[4]
    assert not (manuals / "ZX-900.pdf").exists()
    docs = api.texts(CHAT)[-1]
    assert "ZX-900" not in docs and "SolarFux" in docs


async def test_a_non_admins_pdf_with_a_question_as_caption_gets_the_answer_and_is_not_stored(
    sample_kb: KnowledgeBase, kb_dir: Path, manuals: Path, tmp_path: Path
) -> None:
    async with FakeTelegram() as api:
        settings = settings_for(kb_dir, api, NIK_ADMINS=f"telegram:{ADMIN}", NIK_MANUALS_DIR=str(manuals))
        async with serving(settings, sample_kb) as server:
            sent = api.document(
                OTHER, manual_pdf(tmp_path), name="x.pdf", caption="Was bedeutet Fehler E013?", user_id=OTHER
            )
            api.push(sent)
            await api.wait_for(lambda: bool(api.texts(OTHER)))
            await settled(api, server)
    [answer] = api.texts(OTHER)
    assert "E013" in answer and "Quellen" in answer
    assert api.downloads == [] and [p.name for p in manuals.glob("*.pdf")] == [SAMPLE_NAME]
