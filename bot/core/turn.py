"""What the core hands an engine and gets back: a turn, its history, the result; the engine protocol.

The conversation core owns policy, storage and ordering; an engine (the LLM agent or
the offline answerer) only turns one question (with the chat's recent history, and
possibly the answer to a question it asked earlier) into a reply. When it asks back,
it returns the state it needs to resume; the core stores that durably and hands it
back on the next turn of the asking user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.core.messages import Answer, Clarification, ImageInput


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
    device: str | None = None  # the chat's device: search only its manuals (a product filter)
    device_label: str | None = None  # its name, for the engine's context
    # streaming: awaited with the answer text so far (an engine may ignore it)
    on_partial: Callable[[str], Awaitable[None]] | None = field(default=None, compare=False, repr=False)
    # awaited with a short German note of what the engine does next ("Suche: E013"); may be ignored
    on_status: Callable[[str], Awaitable[None]] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class EngineResult:
    reply: Answer | Clarification
    pause_state: dict[str, Any] | None = None  # set exactly when reply is a Clarification
    tool_calls: int = 0
    usage: dict[str, int] = field(default_factory=dict)  # LLM tokens, for metrics
    device_hint: str = ""  # brand and model a photo showed (the core may remember the device)


class Engine(Protocol):
    @property
    def summarizes(self) -> bool:
        """False when ``summarize`` always returns None: the core then never reads old history for it."""
        ...

    async def answer(self, turn: Turn) -> EngineResult: ...

    async def summarize(self, summary: str | None, dropped: tuple[HistoryItem, ...]) -> str | None:
        """Fold messages that left the window into the summary (None: no summary)."""
        ...
