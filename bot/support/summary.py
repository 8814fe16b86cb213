"""What a support agent reads about a case: a short summary of the technician's conversation.

With a language model the engine's summary (the same prompt as the rolling summaries,
so the technician's text reaches the model only as quoted conversation); offline, or
when the model fails, the last questions and the manual pages Nik cited, from the
stored history. The photos of the conversation are found by their stored references.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.core.turn import Engine, HistoryItem
from bot.errors import LlmUnavailable
from storage.store import StoredMessage

log = logging.getLogger(__name__)

QUESTIONS = 3  # the last questions shown offline
PAGES = 5  # cited pages shown
PHOTOS = 4  # photos attached to a case
QUESTION_CHARS = 300
NOTHING = "(noch kein Gespräch mit Nik)"


def own_messages(history: Sequence[StoredMessage], user_id: str) -> list[StoredMessage]:
    """The user's messages and Nik's reply to each (in a group, others' questions stay out)."""
    kept: list[StoredMessage] = []
    theirs = False  # the last question was the user's: Nik's next message answers it
    for message in history:
        if message.role == "user":
            theirs = message.user_id == user_id
            if theirs:
                kept.append(message)
        elif message.role == "assistant" and theirs:
            kept.append(message)
            theirs = False
    return kept


def offline_summary(messages: Sequence[StoredMessage]) -> str:
    questions = [m.content for m in messages if m.role == "user" and not m.content.startswith("/")]
    if not questions:
        return NOTHING
    lines = [f"• {_clip(q)}" for q in questions[-QUESTIONS:]]
    return "Letzte Fragen:\n" + "\n".join(lines) + _pages_line(messages)


async def case_summary(messages: Sequence[StoredMessage], engine: Engine | None) -> str:
    """The LLM's summary when the engine writes summaries, else (or when it fails) the offline one."""
    items = tuple(HistoryItem(m.role, m.content) for m in messages if m.role in ("user", "assistant"))
    if engine is not None and engine.summarizes and items:
        try:
            text = await engine.summarize(None, items)
        except LlmUnavailable as error:
            log.info("case summary without the model: %s", error)
            text = None
        if text:
            return f"{text}{_pages_line(messages)}"
    return offline_summary(messages)


def photo_refs(messages: Sequence[StoredMessage]) -> list[str]:
    """The stored photos of the conversation, the newest ``PHOTOS``, oldest first."""
    refs = [ref for m in messages if m.role == "user" for ref in m.image_refs]
    return refs[-PHOTOS:]


def _pages_line(messages: Sequence[StoredMessage]) -> str:
    cited = dict.fromkeys(f"{c.title}, S. {c.page}" for m in messages if m.role == "assistant" for c in m.citations)
    return "\nZitierte Seiten: " + "; ".join(list(cited)[-PAGES:]) if cited else ""


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUESTION_CHARS else flat[: QUESTION_CHARS - 1] + "…"
