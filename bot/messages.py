"""The boundary between the platform adapters and the core: plain frozen values.

Adapters translate a Telegram update or a Teams activity into one
``IncomingMessage`` (facts only: who, where, what, was the bot mentioned) and
render the replies the core yields. Nothing here knows a platform library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Platform = Literal["telegram", "teams", "console"]
AnswerKind = Literal["answer", "not_found", "refused", "error", "info"]


@dataclass(frozen=True, slots=True)
class ImageInput:
    data: bytes
    mime: str  # as the platform declared it; the photo pipeline checks the bytes


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    platform: Platform
    chat_id: str
    user_id: str
    user_name: str
    message_id: str
    text: str  # caption for photos; the bot's @mention already removed
    images: tuple[ImageInput, ...] = ()
    is_group: bool = False
    mentions_bot: bool = False
    reply_to_bot: bool = False
    thread_id: str | None = None  # forum topic / Teams reply chain
    callback_data: str | None = None  # a pressed button's payload


@dataclass(frozen=True, slots=True)
class Citation:
    file: str
    title: str
    page: int

    def label(self) -> str:
        return f"[{self.title}, S. {self.page}]"


@dataclass(frozen=True, slots=True)
class Answer:
    """A final reply: light Markdown text and the pages it rests on."""

    text: str
    citations: tuple[Citation, ...] = ()
    kind: AnswerKind = "answer"
    ask_feedback: bool = False  # adapters add 👍/👎 under real answers


@dataclass(frozen=True, slots=True)
class Clarification:
    """A question back to the technician; the turn pauses until they answer."""

    question: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PageImage:
    png: bytes
    caption: str
    citation: Citation


@dataclass(frozen=True, slots=True)
class Partial:
    """Streaming: the answer so far (adapters may show it progressively)."""

    text: str


@dataclass(frozen=True, slots=True)
class Typing:
    """The core is working; adapters show a typing indicator."""


Reply = Answer | Clarification | PageImage | Partial | Typing
