"""The gate: allow lists with one refusal, the per-user rate limit with one note; nothing stored."""

from __future__ import annotations

from pathlib import Path

from bot.core.commands import Commands
from bot.core.conversation import Conversation
from bot.core.gate import REFUSAL, SLOW_DOWN, Gate
from bot.core.messages import Answer, IncomingMessage
from bot.offline.answerer import OfflineAnswerer
from bot.offline.engine import OfflineEngine
from knowledge.service import KnowledgeBase
from storage.store import ChatKey, Store


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def msg(chat: str = "7", user: str = "42", number: int = 1, callback: str | None = None) -> IncomingMessage:
    return IncomingMessage("telegram", chat, user, "Anna", str(number), "Was bedeutet E013?", callback_data=callback)


def test_without_lists_everyone_is_allowed_and_without_a_limit_nobody_waits() -> None:
    gate = Gate()
    assert all(gate.check(msg(number=n)) is None for n in range(100))


def test_allow_lists_refuse_once_per_chat() -> None:
    gate = Gate(allowed_chats=frozenset({"telegram:-100"}), allowed_users=frozenset({"9"}))
    assert gate.check(msg(chat="-100")) is None  # a listed chat: everyone in it
    assert gate.check(msg(chat="5", user="9")) is None  # a listed user: anywhere
    assert gate.check(msg(chat="5")) == REFUSAL
    assert gate.check(msg(chat="5", number=2)) == ""
    assert gate.check(msg(chat="6")) == REFUSAL  # another chat gets its own refusal
    assert Gate(allowed_users=frozenset({"teams:42"})).check(msg()) == REFUSAL  # the platform counts


def test_rate_limit_notes_once_per_minute_and_lets_votes_through() -> None:
    clock = Clock()
    gate = Gate(rate_limit=3, clock=clock)
    assert [gate.check(msg(number=n)) for n in range(5)] == [None, None, None, SLOW_DOWN, ""]
    assert gate.check(msg(number=9), count=False) is None  # a 👍/👎
    assert gate.check(msg(user="43")) is None  # another user has their own budget
    clock.now = 59.0
    assert gate.check(msg(number=6)) == ""
    clock.now = 60.5  # the first three have left the window
    assert gate.check(msg(number=7)) is None


async def test_a_refused_message_is_not_stored(sample_kb: KnowledgeBase, store: Store, tmp_path: Path) -> None:
    commands = Commands(knowledge=sample_kb, store=store, admins=frozenset(), manuals_dir=tmp_path, llm="offline")
    gate = Gate(allowed_chats=frozenset({"telegram:1"}))
    conversation = Conversation(store, OfflineEngine(OfflineAnswerer(sample_kb)), commands, gate=gate)
    replies = [r async for r in conversation.handle(msg(chat="7"))]
    assert replies == [Answer(REFUSAL, kind="refused")]
    assert [r async for r in conversation.handle(msg(chat="7", number=2))] == []
    assert await store.history(ChatKey("telegram", "7"), 10) == []
    answered = [r async for r in conversation.handle(msg(chat="1"))]
    assert isinstance(answered[-1], Answer) and answered[-1].citations
