"""What answers a turn: the LLM agent when one is configured, else the offline answerer.

The conversation core owns policy, storage and ordering; an engine only turns one
question (with the chat's recent history, and possibly the answer to a question it
asked earlier) into a reply. When it asks back, it returns the state it needs to
resume; the core stores that durably (``storage.Store.save_pause``) and hands it
back on the next turn of the asking user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.answerer import OfflineAnswerer
from bot.messages import Answer, Clarification, ImageInput


@dataclass(frozen=True, slots=True)
class HistoryItem:
    role: str  # "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Turn:
    question: str
    images: tuple[ImageInput, ...] = ()
    history: tuple[HistoryItem, ...] = ()  # the window, oldest first, without this question
    summary: str | None = None  # rolling summary of what fell out of the window
    resume: dict[str, Any] | None = None  # state returned with an earlier Clarification
    reply_to_pause: str | None = None  # the user's answer (typed or a pressed option)
    # streaming: awaited with the answer text so far (an engine may ignore it)
    on_partial: Callable[[str], Awaitable[None]] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class EngineResult:
    reply: Answer | Clarification
    pause_state: dict[str, Any] | None = None  # set exactly when reply is a Clarification
    tool_calls: int = 0
    usage: dict[str, int] = field(default_factory=dict)  # LLM tokens, for metrics


class Engine(Protocol):
    async def answer(self, turn: Turn) -> EngineResult: ...

    async def summarize(self, summary: str | None, dropped: tuple[HistoryItem, ...]) -> str | None:
        """Fold messages that left the window into the summary (None: no summary)."""
        ...


@dataclass(frozen=True, slots=True)
class OfflineEngine:
    """No LLM: the deterministic, extractive answerer; history is not needed (nor streaming)."""

    answerer: OfflineAnswerer

    async def answer(self, turn: Turn) -> EngineResult:
        if turn.resume is not None and turn.resume.get("kind") == "device":
            question = str(turn.resume["question"])
            product = (turn.reply_to_pause or "").strip() or None
            reply = await asyncio.to_thread(self.answerer.answer, question, product)
        else:
            reply = await asyncio.to_thread(self.answerer.answer, turn.question)
        if isinstance(reply, Clarification):
            return EngineResult(reply, {"kind": "device", "question": turn.question})
        return EngineResult(reply)

    async def summarize(self, summary: str | None, dropped: tuple[HistoryItem, ...]) -> str | None:
        return None
