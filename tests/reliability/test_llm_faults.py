"""LLM faults under load: 200 turns against a model that fails at random.

Every turn must end with an answer or the German apology within its budget; no
chat is left stuck (its next turn runs), and retries stay bounded. Each chat has
its own scripted model, its faults seeded by the chat's number, so a chat meets
the same sequence on every run however the 20 chats interleave. Loopback only,
bounded in count and time.
"""

from __future__ import annotations

import asyncio
import random
import time
from contextlib import AsyncExitStack
from pathlib import Path

from bot.agent.agent import LlmAgent
from bot.agent.llm import LlmClient
from bot.core.commands import Commands
from bot.core.conversation import Conversation
from bot.core.messages import Answer, IncomingMessage, Reply
from fakes import Calls, ScriptedOpenAI, Status, Step, Text
from knowledge.service import KnowledgeBase
from storage.store import ChatKey, Store

TURNS = 200
CHATS = 20
TURN_SECONDS = 4.0
REQUEST_SECONDS = 0.5
RETRIES = 2
SEED = 20261121


def faulty_script(rng: random.Random, steps: int) -> list[Step]:
    """Searches and answers mixed with 500s, 429s (with and without Retry-After) and
    replies slower than the request timeout."""
    script: list[Step] = []
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.15:
            script.append(Status(500))
        elif roll < 0.22:
            script.append(Status(429, retry_after="0.05"))
        elif roll < 0.25:
            script.append(Status(429, retry_after="120"))  # longer than the budget: give up at once
        elif roll < 0.29:
            script.append(Text("zu spät", delay=REQUEST_SECONDS * 2))  # a timeout
        elif roll < 0.31:
            script.append(Calls(("search_knowledge", "{not json")))  # malformed tool-call arguments
        elif roll < 0.6:
            script.append(Calls(("search_knowledge", {"query": "E013"})))
        else:
            script.append(Text("E013 ist ein Isolationsfehler [SolarFux SF-5000TL Handbuch, S. 7]."))
    return script


async def test_every_turn_ends_with_an_answer_or_an_apology(sample_kb: KnowledgeBase, store: Store) -> None:
    commands = Commands(sample_kb, store, frozenset(), Path("unused"), "scripted-model")
    async with AsyncExitStack() as stack:
        apis: list[ScriptedOpenAI] = []
        conversations: list[Conversation] = []
        for number in range(CHATS):  # a model per chat: its script does not depend on the others' pace
            script = faulty_script(random.Random(f"{SEED}-{number}"), TURNS // CHATS * 4 * (1 + RETRIES))
            api = await stack.enter_async_context(ScriptedOpenAI(script))
            client = LlmClient(
                "sk-test", api.base_url, retries=RETRIES, backoff_seconds=0.01, request_seconds=REQUEST_SECONDS
            )
            stack.push_async_callback(client.close)
            agent = LlmAgent(sample_kb, client, "scripted-model", max_iterations=4, turn_seconds=TURN_SECONDS)
            apis.append(api)
            conversations.append(Conversation(store, agent, commands))

        async def chat(number: int) -> list[tuple[float, list[Reply]]]:
            turns = []
            for n in range(TURNS // CHATS):
                message = IncomingMessage(
                    "telegram",
                    f"chat{number}",
                    f"u{number}",
                    "Tech",
                    f"m{n}",
                    "Was bedeutet E013?",
                    is_group=True,
                    mentions_bot=True,  # groups: one final message, no streaming
                )
                started = time.monotonic()
                replies = [r async for r in conversations[number].handle(message)]
                turns.append((time.monotonic() - started, replies))
            return turns

        results = await asyncio.wait_for(asyncio.gather(*(chat(n) for n in range(CHATS))), timeout=300)
        requests = sum(len(api.requests) for api in apis)

    turns = [turn for chat_turns in results for turn in chat_turns]
    assert len(turns) == TURNS
    kinds: dict[str, int] = {}
    for seconds, replies in turns:
        finals = [r for r in replies if isinstance(r, Answer)]
        assert len(finals) == 1, replies
        kinds[finals[0].kind] = kinds.get(finals[0].kind, 0) + 1
        # the budget bounds the model calls; the rest is search and storage
        assert seconds < TURN_SECONDS + REQUEST_SECONDS + 2.0, seconds
    assert set(kinds) <= {"answer", "not_found", "error"}, kinds
    assert kinds.get("answer", 0) >= TURNS // 4, kinds  # faults cost some turns, not most
    assert kinds.get("error", 0) >= 1, kinds  # the faults did reach the core
    # bounded retries: never more requests than turns × iterations × (1 + retries)
    assert requests <= TURNS * 4 * (1 + RETRIES)
    history = await store.history(ChatKey("telegram", "chat0"), 100)
    assert [m.role for m in history].count("user") == TURNS // CHATS  # each chat's turns all ran
