"""👍/👎 through the core: an answer carries its feedback id, a press is stored as a vote,
acknowledged, never answered by the engine and never part of the history."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from bot.core.commands import Commands
from bot.core.conversation import THANKS, Conversation
from bot.core.messages import CALLBACK_DATA_BYTES, Answer, IncomingMessage, Reply, feedback_data, parse_feedback
from bot.core.turn import EngineResult, HistoryItem, Turn
from bot.offline.answerer import OfflineAnswerer
from bot.offline.engine import OfflineEngine
from helpers import votes
from knowledge.service import KnowledgeBase
from storage.store import ChatKey, Store

_ids = itertools.count(1)
E013 = "Was bedeutet Fehler E013?"


def msg(text: str, chat: str = "c1", user: str = "u1", **facts: Any) -> IncomingMessage:
    return IncomingMessage("telegram", chat, user, user.upper(), f"m{next(_ids)}", text, **facts)


def press(feedback_id: str, value: int, chat: str = "c1", user: str = "u1", **facts: Any) -> IncomingMessage:
    return msg("", chat, user, callback_data=feedback_data(feedback_id, value), **facts)


class CountingEngine:
    """The offline engine, counting how often it is asked."""

    summarizes = False

    def __init__(self, kb: KnowledgeBase) -> None:
        self._inner = OfflineEngine(OfflineAnswerer(kb))
        self.turns: list[Turn] = []

    async def answer(self, turn: Turn) -> EngineResult:
        self.turns.append(turn)
        return await self._inner.answer(turn)

    async def summarize(self, summary: str | None, dropped: tuple[HistoryItem, ...]) -> str | None:
        return await self._inner.summarize(summary, dropped)


@pytest.fixture
def engine(sample_kb: KnowledgeBase) -> CountingEngine:
    return CountingEngine(sample_kb)


@pytest.fixture
def conversation(sample_kb: KnowledgeBase, store: Store, engine: CountingEngine) -> Conversation:
    commands = Commands(sample_kb, store, frozenset(), Path("unused"), "offline")
    return Conversation(store, engine, commands)


async def replies(conversation: Conversation, message: IncomingMessage) -> list[Reply]:
    return [reply async for reply in conversation.handle(message)]


async def asked(conversation: Conversation, chat: str = "c1", **facts: Any) -> Answer:
    """Ask E013 and return the answer, which must carry a feedback id."""
    answers = [r for r in await replies(conversation, msg(E013, chat, **facts)) if isinstance(r, Answer)]
    assert len(answers) == 1 and answers[0].kind == "answer" and answers[0].ask_feedback
    assert answers[0].feedback_id is not None
    return answers[0]


def key(chat: str = "c1") -> ChatKey:
    return ChatKey("telegram", chat, None)


async def test_an_answer_carries_its_stored_position_as_feedback_id(conversation: Conversation, store: Store) -> None:
    answer = await asked(conversation)
    stored = await store.history(key(), 10)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert answer.feedback_id == str(stored[-1].position)


async def test_a_thumbs_up_is_stored_and_acknowledged_without_the_engine(
    conversation: Conversation, store: Store, engine: CountingEngine
) -> None:
    answer = await asked(conversation)
    assert answer.feedback_id is not None
    position = int(answer.feedback_id)
    history = await store.history(key(), 10)
    found = await replies(conversation, press(answer.feedback_id, 1))
    assert found == [Answer(THANKS, kind="info")]
    assert await votes(store.engine, key()) == {position: 1}
    assert len(engine.turns) == 1  # only the question reached the engine
    assert await store.history(key(), 10) == history  # the press is not history


async def test_the_same_user_changing_the_vote_replaces_it(conversation: Conversation, store: Store) -> None:
    answer = await asked(conversation)
    assert answer.feedback_id is not None
    await replies(conversation, press(answer.feedback_id, 1))
    await replies(conversation, press(answer.feedback_id, -1))
    assert await votes(store.engine, key()) == {int(answer.feedback_id): -1}


async def test_votes_of_two_users_add_up(conversation: Conversation, store: Store) -> None:
    answer = await asked(conversation)
    assert answer.feedback_id is not None
    await replies(conversation, press(answer.feedback_id, 1, user="u1"))
    await replies(conversation, press(answer.feedback_id, 1, user="u2"))
    assert await votes(store.engine, key()) == {int(answer.feedback_id): 2}
    await replies(conversation, press(answer.feedback_id, -1, user="u3"))
    assert await votes(store.engine, key()) == {int(answer.feedback_id): 1}


async def test_a_press_in_a_group_without_mention_is_accepted_from_anyone(
    conversation: Conversation, store: Store
) -> None:
    answer = await asked(conversation, "g1", is_group=True, mentions_bot=True)
    assert answer.feedback_id is not None
    found = await replies(conversation, press(answer.feedback_id, -1, chat="g1", user="someone-else", is_group=True))
    assert found == [Answer(THANKS, kind="info")]
    assert await votes(store.engine, key("g1")) == {int(answer.feedback_id): -1}


@pytest.mark.parametrize(
    "data",
    [
        "fb:",
        "fb:abc:+1",
        "fb:0:+1",
        "fb:-3:+1",
        "fb:2:+2",
        "fb:2:1",
        "fb:2:0",
        "fb:2:+1:x",
        "fb:2",
        "fb:" + "9" * 40 + ":+1",
    ],
)
async def test_malformed_feedback_is_ignored(
    conversation: Conversation, store: Store, engine: CountingEngine, data: str
) -> None:
    await asked(conversation)
    assert await replies(conversation, msg("", callback_data=data)) == []
    assert await votes(store.engine, key()) == {}
    assert len(engine.turns) == 1 and len(await store.history(key(), 10)) == 2


async def test_feedback_in_one_chat_is_not_visible_in_another(conversation: Conversation, store: Store) -> None:
    answer = await asked(conversation, "A")
    assert answer.feedback_id is not None
    await replies(conversation, press(answer.feedback_id, 1, chat="A"))
    assert await votes(store.engine, key("A")) == {int(answer.feedback_id): 1}
    assert await votes(store.engine, key("B")) == {}


async def test_a_press_handled_twice_is_one_vote(conversation: Conversation, store: Store) -> None:
    """Re-deliveries are dropped by the inbox; should one still get through, the vote does not double."""
    answer = await asked(conversation)
    assert answer.feedback_id is not None
    pressed = press(answer.feedback_id, 1)
    for _ in range(2):
        assert await replies(conversation, pressed) == [Answer(THANKS, kind="info")]
    assert await votes(store.engine, key()) == {int(answer.feedback_id): 1}


def test_callback_data_round_trips_within_telegrams_64_bytes() -> None:
    for value in (1, -1):
        data = feedback_data("123456789012345678", value)
        assert len(data.encode()) <= CALLBACK_DATA_BYTES == 64
        assert parse_feedback(data) == ("123456789012345678", value)
    assert feedback_data("7", 1) == "fb:7:+1" and feedback_data("7", -1) == "fb:7:-1"
    with pytest.raises(ValueError):
        feedback_data("x" * 64, 1)  # too long for a button
    with pytest.raises(ValueError):
        feedback_data("7", 2)
    with pytest.raises(ValueError):
        feedback_data("a:b", 1)
    assert parse_feedback("fb:" + "1" * 62 + ":+1") is None
    assert parse_feedback("SF-5000TL") is None
