"""bot.core.commands: parsing, the German command replies, and admin-only commands refusing others."""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.commands import BUSY, NOT_ADMIN, PAGE_USAGE, UNKNOWN, Command, Commands, parse_command
from bot.core.conversation import Conversation
from bot.core.messages import Answer, IncomingMessage, PageImage, Progress, Reply, command_button, parse_command_button
from bot.offline.answerer import OfflineAnswerer
from bot.offline.engine import OfflineEngine
from bot.runtime.jobs import STARTED, Jobs, Report
from helpers import PNG_MAGIC, SAMPLE_DIR, SAMPLE_NAME
from knowledge.index import exclusive_build
from knowledge.service import KnowledgeBase
from storage.store import ChatKey, Pause, Store

_ids = itertools.count(1)


@pytest.fixture
def conversation(sample_kb: KnowledgeBase, store: Store) -> Conversation:
    commands = Commands(sample_kb, store, frozenset({"telegram:boss"}), SAMPLE_DIR, "offline")
    return Conversation(store, OfflineEngine(OfflineAnswerer(sample_kb)), commands)


async def run(conversation: Conversation, text: str, user: str = "u1") -> Reply:
    message = IncomingMessage("telegram", "c1", user, user, f"m{next(_ids)}", text)
    found = [reply async for reply in conversation.handle(message)]
    assert len(found) == 1, found
    return found[0]


async def answer(conversation: Conversation, text: str, user: str = "u1") -> Answer:
    reply = await run(conversation, text, user)
    assert isinstance(reply, Answer)
    return reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/docs", Command("docs", "")),
        ("/DOCS@NikBot", Command("docs", "", "NikBot")),
        ("  /search  E013 Fehler ", Command("search", "E013 Fehler")),
        ("/page@NikBot SolarFux 3", Command("page", "SolarFux 3", "NikBot")),
        ("Was bedeutet E013?", None),
        ("/", None),
        ("/ tmp", None),
        ("/pfad/zur/datei", None),
    ],
)
def test_parse_command(text: str, expected: Command | None) -> None:
    assert parse_command(text) == expected


async def test_help_and_start_explain_nik(conversation: Conversation) -> None:
    for text in ("/start", "/help"):
        reply = await answer(conversation, text)
        assert "Handbüchern" in reply.text and "/search" in reply.text and "E013" in reply.text


async def test_unknown_command_hints_at_help(conversation: Conversation) -> None:
    assert (await answer(conversation, "/foo")).text == UNKNOWN


async def test_docs_lists_the_manuals(conversation: Conversation) -> None:
    reply = await answer(conversation, "/docs")
    assert "SolarFux SF-5000TL" in reply.text and "(10 S.)" in reply.text and SAMPLE_NAME in reply.text


async def test_search_shows_raw_hits_or_says_not_found(conversation: Conversation) -> None:
    hits = await answer(conversation, "/search E013")
    assert "S. 8" in hits.text and "Fehlerstrom" in hits.text and hits.citations
    missing = await answer(conversation, "/search Wie hoch ist der Eiffelturm?")
    assert missing.kind == "not_found" and "nichts in den Handbüchern" in missing.text
    assert "/search" in (await answer(conversation, "/search")).text


async def test_page_sends_the_page_as_png(conversation: Conversation) -> None:
    page = await run(conversation, "/page SolarFux_SF-5000TL_Handbuch 8")
    assert isinstance(page, PageImage) and page.png.startswith(PNG_MAGIC)
    assert page.citation.file == SAMPLE_NAME and page.citation.page == 8 and "S. 8" in page.caption
    assert (await answer(conversation, "/page SolarFux")).text == PAGE_USAGE
    assert (await answer(conversation, "/page Growatt 2")).kind == "not_found"
    assert (await answer(conversation, f"/page {SAMPLE_NAME} 99")).kind == "not_found"


async def test_new_clears_the_pending_question(conversation: Conversation, store: Store) -> None:
    key = ChatKey("telegram", "c1")
    now = datetime.now(UTC)
    await store.save_pause(key, Pause("u1", "Welches Gerät?", ("A",), {}, None, now, now + timedelta(hours=1)))
    reply = await answer(conversation, "/new")
    assert "Neues Gespräch" in reply.text and "Rückfrage" in reply.text
    assert await store.pause(key) is None


async def test_admin_commands_refuse_others_and_run_nothing(
    conversation: Conversation, sample_kb: KnowledgeBase
) -> None:
    before = sample_kb.state()
    for text in ("/reindex", "/status"):
        reply = await answer(conversation, text, user="u1")
        assert reply.text == NOT_ADMIN and reply.kind == "refused"
    after = sample_kb.state()
    assert (after.version, after.created_at) == (before.version, before.created_at)


async def test_status_for_an_admin(conversation: Conversation) -> None:
    message = IncomingMessage("telegram", "c2", "u2", "u2", "q1", "Was bedeutet Fehler E013?")
    assert [reply async for reply in conversation.handle(message)]
    reply = await answer(conversation, "/status", user="boss")
    for part in ("Version 1", "Handbücher: 1", "Seiten: 10", "e5", "offline", "sqlite", "Fragen heute: 1"):
        assert part in reply.text, reply.text
    assert re.search(r"Abschnitte: [1-9]\d*", reply.text), reply.text


async def test_reindex_for_an_admin_reports_progress_then_the_changes(
    conversation: Conversation, sample_kb: KnowledgeBase
) -> None:
    message = IncomingMessage("telegram", "c1", "boss", "boss", "m-reindex", "/reindex")
    replies = [reply async for reply in conversation.handle(message)]
    assert all(isinstance(r, Progress) for r in replies)
    assert [r.done for r in replies if isinstance(r, Progress)][-1] is True
    final = replies[-1]
    assert isinstance(final, Progress)
    assert "Index aktualisiert" in final.text and "1 Handbücher" in final.text
    assert "Neu 0, geändert 0, entfernt 0" in final.text


async def test_a_reindex_while_another_build_runs_says_so(conversation: Conversation, kb_dir: Path) -> None:
    message = IncomingMessage("telegram", "c1", "boss", "boss", "m-r1", "/reindex")
    with exclusive_build(kb_dir / "index.lock"):  # another process (or chat) is building
        replies = [r async for r in conversation.handle(message)]
    final = replies[-1]
    assert isinstance(final, Progress) and final.done and final.text == BUSY


async def test_reindex_only_starts_the_job_whose_note_outlives_the_turn(sample_kb: KnowledgeBase, store: Store) -> None:
    jobs = Jobs(sample_kb, SAMPLE_DIR, progress_seconds=0.05)
    shown: list[tuple[ChatKey, Progress]] = []
    first_shown, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    def notes(key: ChatKey) -> Report:  # what a platform registers: one edited message in that chat
        async def show(progress: Progress) -> None:
            shown.append((key, progress))
            first_shown.set()
            if progress.done:
                finished.set()
            await release.wait()  # the platform is slow: the job is still running meanwhile

        return show

    jobs.register("telegram", notes)
    commands = Commands(sample_kb, store, frozenset({"telegram:boss"}), SAMPLE_DIR, "offline", jobs=jobs)
    conversation = Conversation(store, OfflineEngine(OfflineAnswerer(sample_kb)), commands)
    first = IncomingMessage("telegram", "c1", "boss", "boss", "m-r1", "/reindex")
    assert [r async for r in conversation.handle(first)] == []  # the turn is over at once
    await asyncio.wait_for(first_shown.wait(), 10)
    assert jobs.reindexing
    again = IncomingMessage("telegram", "c2", "boss", "boss", "m-r2", "/reindex")
    assert [r async for r in conversation.handle(again)] == [Answer(BUSY, kind="info")]
    release.set()
    await asyncio.wait_for(finished.wait(), 60)
    assert {key for key, _ in shown} == {ChatKey("telegram", "c1")}
    assert shown[0][1] == Progress(STARTED)
    final = shown[-1][1]
    assert final.done and "Index aktualisiert" in final.text


async def test_a_pressed_command_button_is_its_presser_typing_the_command(conversation: Conversation) -> None:
    """In a group, unaddressed: the press alone runs the command, with the presser's rights."""
    help_button = command_button("Hilfe", "/help")
    pressed = IncomingMessage(
        "telegram", "g1", "u1", "u1", f"m{next(_ids)}", "", is_group=True, callback_data=help_button.data
    )
    replies = [reply async for reply in conversation.handle(pressed)]
    assert len(replies) == 1 and isinstance(replies[0], Answer) and "/docs" in replies[0].text
    admin_only = replace(pressed, message_id=f"m{next(_ids)}", callback_data=command_button("x", "/status").data)
    refused = [reply async for reply in conversation.handle(admin_only)]
    assert [r.text for r in refused if isinstance(r, Answer)] == [NOT_ADMIN]


def test_a_command_button_must_fit_telegrams_callback_data() -> None:
    assert parse_command_button(command_button("PDF", "/pdf 12").data) == "/pdf 12"
    assert parse_command_button("opt:1") is None and parse_command_button("cmd:rm -rf") is None
    with pytest.raises(ValueError):
        command_button("PDF", "/pdf " + "x" * 60)
    with pytest.raises(ValueError):
        command_button("kein Befehl", "hallo")
