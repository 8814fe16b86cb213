"""Streaming: the LLM client reassembles server-sent deltas and reports the text so far;
the conversation core forwards it as ``Partial`` replies, and the agent's tool steps as
``Status`` replies, in private chats only."""

from __future__ import annotations

import json
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from bot.agent.llm import LlmClient
from bot.config import load_settings
from bot.core.commands import Commands
from bot.core.conversation import APOLOGY, Conversation
from bot.core.messages import Answer, IncomingMessage, Partial, Reply
from bot.core.messages import Status as StatusReply
from bot.core.turn import EngineResult, HistoryItem, Turn
from bot.runtime.composition import open_nik
from fakes import Calls, ScriptedOpenAI, Status, Step, Text
from helpers import SAMPLE_NAME
from knowledge.service import KnowledgeBase
from storage.store import Store

TITLE = "SolarFux SF-5000TL Installations- und Bedienungsanleitung"
LONG = (
    "E013 bedeutet: Der Fehlerstrom ist zu hoch. Prüfen Sie die Isolation der DC-Leitungen, "
    "messen Sie den Isolationswiderstand der Module gegen Erde und kontrollieren Sie die Steckverbinder "
    f"auf Feuchtigkeit. Danach den Wechselrichter neu starten [{TITLE}, S. 8]."
)
MESSAGES = [{"role": "user", "content": "Was bedeutet E013?"}]


async def streamed(api: ScriptedOpenAI) -> tuple[Any, list[str]]:
    seen: list[str] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    client = LlmClient("sk-test", api.base_url, backoff_seconds=0.05)
    try:
        completion = await client.complete("m", MESSAGES, time.monotonic() + 10, on_text=on_text)
    finally:
        await client.close()
    return completion, seen


async def test_streamed_text_arrives_as_growing_prefixes() -> None:
    async with ScriptedOpenAI([Text(LONG)], chunk_chars=7) as api:
        completion, seen = await streamed(api)
    assert completion.text == LONG and completion.tool_calls == ()
    assert completion.usage == {"prompt_tokens": 10, "completion_tokens": 5}
    assert len(seen) >= 2  # throttled by size (every ~80 characters), plus the end
    assert all(later.startswith(earlier) and later != earlier for earlier, later in pairwise(seen))
    assert seen[-1] == LONG
    assert api.requests[0]["stream"] is True and api.requests[0]["stream_options"] == {"include_usage": True}


async def test_tool_calls_streamed_in_fragments_are_reassembled() -> None:
    first = {"query": "Fehler E013 Fehlerstrom zu hoch"}
    second = {"file": "SolarFux_SF-5000TL_Handbuch", "pages": [7, 8]}
    script: list[Step] = [Calls(("search_knowledge", first), ("get_full_document", second))]
    async with ScriptedOpenAI(script, chunk_chars=5) as api:
        completion, seen = await streamed(api)
    assert seen == []  # no content: nothing reaches the user
    assert completion.text is None
    assert [(c.id, c.name) for c in completion.tool_calls] == [
        ("call_1", "search_knowledge"),
        ("call_2", "get_full_document"),
    ]
    assert [json.loads(c.arguments) for c in completion.tool_calls] == [first, second]


async def test_a_failure_before_the_first_delta_is_retried() -> None:
    async with ScriptedOpenAI([Status(503), Text("Hallo")], chunk_chars=2) as api:
        completion, seen = await streamed(api)
    assert completion.text == "Hallo" and seen[-1] == "Hallo"
    assert len(api.requests) == 2


async def turn(llm_env: pytest.MonkeyPatch, message: IncomingMessage) -> list[Reply]:
    script: list[Step] = [Calls(("search_knowledge", {"query": "E013"})), Text(LONG)]
    async with ScriptedOpenAI(script, chunk_chars=9) as api:
        llm_env.setenv("OPENAI_BASE_URL", api.base_url)
        async with open_nik(load_settings()) as nik:
            return [reply async for reply in nik.conversation.handle(message)]


async def test_a_private_chat_sees_partials_before_the_cited_answer(llm_env: pytest.MonkeyPatch) -> None:
    replies = await turn(llm_env, IncomingMessage("telegram", "chat-1", "u-7", "Tom", "m1", "Was bedeutet E013?"))
    answers = [i for i, r in enumerate(replies) if isinstance(r, Answer)]
    partials = [i for i, r in enumerate(replies) if isinstance(r, Partial)]
    assert len(answers) == 1 and partials and max(partials) < answers[0]
    steps = [(i, r) for i, r in enumerate(replies) if isinstance(r, StatusReply)]
    assert [r.text for _, r in steps] == ["🔎 Suche: E013"] and steps[0][0] < min(partials)
    answer = replies[answers[0]]
    last = replies[partials[-1]]
    assert isinstance(answer, Answer) and isinstance(last, Partial)
    assert answer.text.startswith(last.text) and answer.text == LONG
    assert [(c.file, c.page) for c in answer.citations] == [(SAMPLE_NAME, 8)]


async def test_a_group_gets_no_partials(llm_env: pytest.MonkeyPatch) -> None:
    message = IncomingMessage(
        "telegram", "group-1", "u-7", "Tom", "m1", "Was bedeutet E013?", is_group=True, mentions_bot=True
    )
    replies = await turn(llm_env, message)
    assert not any(isinstance(r, Partial | StatusReply) for r in replies)
    answers = [r for r in replies if isinstance(r, Answer)]
    assert len(answers) == 1 and answers[0].text == LONG and answers[0].citations


class BreakingEngine:
    """Streams a little, then fails once; answers normally afterwards."""

    summarizes = False

    def __init__(self) -> None:
        self.failed = False

    async def answer(self, turn: Turn) -> EngineResult:
        if turn.on_partial is not None:
            await turn.on_partial("Der Fehler")
        if not self.failed:
            self.failed = True
            raise RuntimeError("the model went away mid-stream")
        return EngineResult(Answer("Der Fehler ist behoben."))

    async def summarize(self, summary: str | None, dropped: tuple[HistoryItem, ...]) -> str | None:
        return summary


async def test_a_failure_after_partials_is_apologised_for_and_the_chat_stays_usable(
    sample_kb: KnowledgeBase, store: Store
) -> None:
    commands = Commands(sample_kb, store, frozenset(), Path("unused"), "offline")
    conversation = Conversation(store, BreakingEngine(), commands)

    async def ask(message_id: str) -> list[Reply]:
        message = IncomingMessage("telegram", "c1", "u1", "U1", message_id, "Fehler?")
        return [r async for r in conversation.handle(message)]

    first = await ask("m1")
    assert Partial("Der Fehler") in first and first[-1] == Answer(APOLOGY, kind="error")
    second = await ask("m2")
    assert second[-2:] == [Partial("Der Fehler"), Answer("Der Fehler ist behoben.")]
