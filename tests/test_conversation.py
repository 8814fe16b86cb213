"""bot.core.conversation: group policy, pauses, history, summaries, failures and the database
work of a turn, on a real SQLite store and a real knowledge base over the sample manual."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.agent.agent import LlmAgent
from bot.agent.llm import LlmClient
from bot.agent.prompts import SUMMARIZE_PROMPT
from bot.core.commands import Commands
from bot.core.conversation import APOLOGY, EXPIRED, Conversation
from bot.core.messages import Answer, Clarification, IncomingMessage, Reply, Typing
from bot.core.turn import Engine, EngineResult, HistoryItem, Turn
from bot.offline.answerer import OfflineAnswerer
from bot.offline.engine import OfflineEngine
from bot.runtime.dispatcher import Dispatcher
from fakes import ScriptedOpenAI, Text
from helpers import count_transactions, open_kb
from knowledge.embedder import E5Embedder
from knowledge.service import KnowledgeBase
from storage.db import database_url
from storage.inbox import Delivery, Inbox
from storage.store import ChatKey, Pause, Receipt, Store

_ids = itertools.count(1)
E013 = "Was bedeutet Fehler E013?"


def msg(text: str, chat: str = "c1", user: str = "u1", **facts: Any) -> IncomingMessage:
    return IncomingMessage("telegram", chat, user, user.upper(), f"m{next(_ids)}", text, **facts)


def make_conversation(kb: KnowledgeBase, store: Store, engine: Engine | None = None, **kw: Any) -> Conversation:
    commands = Commands(kb, store, frozenset({"telegram:admin"}), Path("unused"), "offline")
    return Conversation(store, engine or OfflineEngine(OfflineAnswerer(kb)), commands, **kw)


async def replies(conversation: Conversation, message: IncomingMessage) -> list[Reply]:
    return [reply async for reply in conversation.handle(message)]


def final(found: list[Reply]) -> Answer | Clarification:
    last = found[-1]
    assert isinstance(last, Answer | Clarification), found
    return last


@pytest.fixture
def conversation(sample_kb: KnowledgeBase, store: Store) -> Conversation:
    return make_conversation(sample_kb, store)


async def test_a_private_question_is_answered_with_citations_and_stored(
    conversation: Conversation, store: Store
) -> None:
    found = await replies(conversation, msg(E013))
    assert isinstance(found[0], Typing)
    answer = final(found)
    assert isinstance(answer, Answer) and answer.kind == "answer"
    assert "Fehlerstrom zu hoch" in answer.text and answer.citations
    history = await store.history(ChatKey("telegram", "c1"), 10)
    assert [m.role for m in history] == ["user", "assistant"]
    assert history[0].content == E013 and history[0].user_id == "u1"
    assert history[1].citations[0].page == answer.citations[0].page


async def test_in_a_group_only_addressed_messages_are_answered(conversation: Conversation, store: Store) -> None:
    key = ChatKey("telegram", "g1")
    silent = msg(E013, chat="g1", is_group=True)
    assert await replies(conversation, silent) == []
    assert await store.history(key, 10) == []  # nothing stored

    mentioned = final(await replies(conversation, msg(E013, chat="g1", is_group=True, mentions_bot=True)))
    assert isinstance(mentioned, Answer) and mentioned.kind == "answer"
    replied = final(await replies(conversation, msg(E013, chat="g1", is_group=True, reply_to_bot=True)))
    assert isinstance(replied, Answer) and replied.kind == "answer"
    docs = final(await replies(conversation, msg("/docs@NikBot", chat="g1", is_group=True)))
    assert isinstance(docs, Answer) and "SolarFux" in docs.text


async def test_chats_and_threads_do_not_see_each_others_history(conversation: Conversation, store: Store) -> None:
    await replies(conversation, msg(E013, chat="a"))
    await replies(conversation, msg(E013, chat="b", thread_id="7"))
    assert len(await store.history(ChatKey("telegram", "a"), 10)) == 2
    assert len(await store.history(ChatKey("telegram", "b", "7"), 10)) == 2
    assert await store.history(ChatKey("telegram", "b"), 10) == []
    assert await store.history(ChatKey("teams", "a"), 10) == []


class RecordingEngine:
    """Answers at once and records the turns it saw."""

    summarizes = True

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def answer(self, turn: Turn) -> EngineResult:
        self.turns.append(turn)
        return EngineResult(Answer(f"zu: {turn.question}"))

    async def summarize(self, summary: str | None, dropped: tuple[HistoryItem, ...]) -> str | None:
        return f"{summary or ''}+{len(dropped)}"


async def test_history_window_and_summary_reach_the_engine(sample_kb: KnowledgeBase, store: Store) -> None:
    engine = RecordingEngine()
    conversation = make_conversation(sample_kb, store, engine, window=2)
    for text in ("eins", "zwei", "drei"):
        await replies(conversation, msg(text))
        await conversation.idle()  # the summary is written after the turn, in the background
    last = engine.turns[-1]
    assert last.history == (HistoryItem("user", "zwei"), HistoryItem("assistant", "zu: zwei"))
    assert last.summary == "+2"  # "eins" and its answer left the window after turn two
    summary = await store.summary(ChatKey("telegram", "c1"))
    assert summary is not None and summary.text == "+2+2"


async def test_the_reply_does_not_wait_for_a_slow_summary(sample_kb: KnowledgeBase, store: Store) -> None:
    release = asyncio.Event()
    script = [Text("Antwort eins"), Text("Antwort zwei"), Text("Zusammenfassung", until=release), Text("Antwort drei")]
    key = ChatKey("telegram", "c1")
    async with ScriptedOpenAI(script) as api:
        client = LlmClient("sk-test", api.base_url)
        conversation = make_conversation(sample_kb, store, LlmAgent(sample_kb, client, "m"), window=2)
        try:
            for text in ("eins", "zwei"):  # after "zwei", "eins" and its answer leave the window
                await replies(conversation, msg(text))
            await asyncio.wait_for(_requests(api, 3), 10)
            assert api.requests[2]["messages"][0]["content"] == SUMMARIZE_PROMPT  # asked, held by the model
            third = final(await replies(conversation, msg("drei")))  # the chat goes on meanwhile
            assert isinstance(third, Answer) and "Antwort drei" in third.text
            assert await store.summary(key) is None
            release.set()
            await asyncio.wait_for(conversation.idle(), 10)
            summary = await store.summary(key)
            assert summary is not None and summary.text == "Zusammenfassung"
        finally:
            await conversation.aclose()
            await client.close()


async def _requests(api: ScriptedOpenAI, count: int) -> None:
    while len(api.requests) < count:
        await asyncio.sleep(0.01)


async def test_an_offline_question_turn_is_two_database_transactions(sample_kb: KnowledgeBase, store: Store) -> None:
    """Counting rule: every transaction on the store's engine (``helpers.count_transactions``:
    reads and writes alike) from the moment ``Dispatcher.submit`` has stored the update (the
    webhook's own transaction, not counted) until the dispatcher is idle and no background
    summary runs. The turn reads once (pause, window, summary) and writes once (question,
    answer, inbox row done); the dispatcher neither asks the inbox again nor closes the row a
    second time. Window 2: from the third turn on, old messages leave the window, and the
    offline engine (no summaries) must not read them."""
    conversation = make_conversation(sample_kb, store, window=2)
    dispatcher = Dispatcher(Inbox(store.engine), lease=timedelta(minutes=5))
    answers: list[Reply] = []

    async def process(delivery: Delivery, receipt: Receipt) -> None:
        message = msg(delivery.payload["text"])
        answers.extend([reply async for reply in conversation.handle(message, receipt=receipt)])

    dispatcher.register("telegram", process)
    begun = count_transactions(store.engine)
    per_turn = []
    for n in range(4):
        assert await dispatcher.submit(ChatKey("telegram", "c1"), f"u{n}", {"text": E013})
        before = begun[0]
        await asyncio.wait_for(dispatcher.drain(), 30)
        await conversation.idle()
        per_turn.append(begun[0] - before)
    assert per_turn == [2, 2, 2, 2]
    assert sum(isinstance(r, Answer) and r.kind == "answer" for r in answers) == 4
    assert await Inbox(store.engine).pending() == 0  # closed by the turns' own writes
    assert len(await store.history(ChatKey("telegram", "c1"), 10)) == 8


async def test_the_device_question_resumes_after_reopening_the_store(device_kb: KnowledgeBase, tmp_path: Path) -> None:
    url = database_url(tmp_path / "chat", None)
    first = await Store.open(url)
    asked = final(await replies(make_conversation(device_kb, first), msg("was bedeutet fehler E013")))
    await first.close()
    assert isinstance(asked, Clarification) and len(asked.options) > 1
    number = next(n for n, o in enumerate(asked.options, start=1) if "Voltronic" in o)

    reopened = await Store.open(url)
    try:
        conversation = make_conversation(device_kb, reopened)
        assert await reopened.pause(ChatKey("telegram", "other")) is None  # another chat has no pause
        resumed = final(await replies(conversation, msg(str(number))))
        assert isinstance(resumed, Answer) and "Batteriespannung zu niedrig" in resumed.text
        assert resumed.citations[0].file == "Voltronic_Axpert_Kurzanleitung.md"
        assert await reopened.pause(ChatKey("telegram", "c1")) is None
    finally:
        await reopened.close()


async def test_in_a_group_only_the_asker_resumes(device_kb: KnowledgeBase, store: Store) -> None:
    conversation = make_conversation(device_kb, store)
    key = ChatKey("telegram", "g")
    asked = final(
        await replies(conversation, msg("was bedeutet fehler E013", "g", "anna", is_group=True, mentions_bot=True))
    )
    assert isinstance(asked, Clarification)
    option = next(o for o in asked.options if "Voltronic" in o)
    assert await replies(conversation, msg(option, "g", "ben", is_group=True)) == []  # not addressed
    other = final(await replies(conversation, msg(E013, "g", "ben", is_group=True, mentions_bot=True)))
    assert isinstance(other, Clarification)  # Ben's own question, not Anna's answer
    pause = await store.pause(key)
    assert pause is not None and pause.user_id == "ben"  # the newest question replaces the old one
    resumed = final(await replies(conversation, msg(option, "g", "ben", is_group=True)))
    assert isinstance(resumed, Answer) and "Batteriespannung zu niedrig" in resumed.text


async def test_an_expired_pause_gets_a_note_and_the_message_is_answered(sample_kb: KnowledgeBase, store: Store) -> None:
    now = datetime.now(UTC)
    key = ChatKey("telegram", "c1")
    state = {"kind": "device", "question": "E013"}
    await store.save_pause(key, Pause("u1", "Welches Gerät?", ("A", "B"), state, None, now, now + timedelta(hours=24)))
    later = make_conversation(sample_kb, store, clock=lambda: now + timedelta(hours=25))
    found = await replies(later, msg(E013))
    assert Answer(EXPIRED, kind="info") in found
    answer = final(found)
    assert isinstance(answer, Answer) and "Fehlerstrom zu hoch" in answer.text
    assert await store.pause(key, now=datetime(2000, 1, 1, tzinfo=UTC)) is None


class BrokenOnce:
    summarizes = False

    def __init__(self, kb: KnowledgeBase) -> None:
        self.calls = 0
        self.offline = OfflineEngine(OfflineAnswerer(kb))

    async def answer(self, turn: Turn) -> EngineResult:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("bug")
        return await self.offline.answer(turn)

    async def summarize(self, summary: str | None, dropped: tuple[HistoryItem, ...]) -> str | None:
        return None


async def test_an_unexpected_failure_is_apologised_for_and_the_chat_stays_usable(
    sample_kb: KnowledgeBase, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    conversation = make_conversation(sample_kb, store, BrokenOnce(sample_kb))
    failed = final(await replies(conversation, msg(E013)))
    assert failed == Answer(APOLOGY, kind="error")
    assert "telegram" in caplog.text and "c1" in caplog.text and "E013" not in caplog.text
    history = await store.history(ChatKey("telegram", "c1"), 10)
    assert [(m.role, m.content) for m in history] == [("user", E013)]  # the question is remembered
    works = final(await replies(conversation, msg(E013)))
    assert isinstance(works, Answer) and works.kind == "answer"


async def test_an_expected_failure_is_a_short_german_message(
    tmp_path: Path, embedder: E5Embedder, store: Store
) -> None:
    empty = open_kb(tmp_path / "nothing", embedder)
    answer = final(await replies(make_conversation(empty, store), msg(E013)))
    assert isinstance(answer, Answer) and answer.kind == "error" and "indexiert" in answer.text
