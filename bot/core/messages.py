"""The boundary between the platform adapters and the core: plain frozen values.

Adapters translate a Telegram update or a Teams activity into one
``IncomingMessage`` (facts only: who, where, what, was the bot mentioned) and
render the replies the core yields. Nothing here knows a platform library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Platform = Literal["telegram", "teams", "console"]
AnswerKind = Literal["answer", "not_found", "refused", "error", "info"]

OPTION_PREFIX = "opt:"  # callback data of a clarification option button: "opt:<1-based number>"
FEEDBACK_PREFIX = "fb:"  # callback data of a 👍/👎 button: "fb:<feedback_id>:+1" or "…:-1"
COMMAND_PREFIX = "cmd:"  # callback data of a command button: "cmd:/pdf 3", pressed = typed by the presser
CALLBACK_DATA_BYTES = 64  # Telegram's limit for a button's callback_data
_FEEDBACK = re.compile(r"fb:([A-Za-z0-9_-]+):([+-]1)")


@dataclass(frozen=True, slots=True)
class ImageInput:
    data: bytes
    mime: str  # as the platform declared it; the photo pipeline checks the bytes
    ref: str | None = None  # where the photo intake stored it (set by the core, never by an adapter)


@dataclass(frozen=True, slots=True)
class AudioInput:
    """A voice note or audio file as the platform delivered it (OGG/Opus from Telegram): not decoded."""

    data: bytes  # empty when the adapter did not download it (over a limit, no speech endpoint, failed)
    mime: str
    seconds: float | None = None  # the duration the platform reported, if it did
    name: str = "voice.ogg"  # speech servers tell the format by the file name's extension
    size: int | None = None  # the size the platform reported before any download


@dataclass(frozen=True, slots=True)
class DocumentInput:
    """A file the user sent (a manual as PDF from an admin), as the platform delivered it."""

    data: bytes  # empty when the adapter did not download it (over the platform's limit, failed)
    mime: str  # as the platform declared it; the upload checks the bytes
    name: str  # the file name the user's device gave it (untrusted: sanitised before use)
    size: int | None = None  # the size the platform reported before any download


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
    reply_to_message_id: str | None = None  # the message this one replies to (Telegram reply, Teams replyToId)
    audio: AudioInput | None = None  # a voice note (the text is its caption)
    document: DocumentInput | None = None  # a file sent as a document (the text is its caption)


@dataclass(frozen=True, slots=True)
class Button:
    """A button under a reply; pressing it is the presser typing ``command`` (same checks)."""

    label: str
    command: str  # "/forget yes", "/pdf 12"

    @property
    def data(self) -> str:
        return f"{COMMAND_PREFIX}{self.command}"


def command_button(label: str, command: str) -> Button:
    """A button that runs ``command`` for whoever presses it; ValueError when it does not fit a button."""
    button = Button(label, command)
    if not command.startswith("/") or len(button.data.encode()) > CALLBACK_DATA_BYTES:
        raise ValueError(f"not a command that fits a button: {command[:80]!r}")
    return button


def parse_command_button(data: str | None) -> str | None:
    """The command text a pressed command button stands for; None for any other press."""
    if not data or not data.startswith(COMMAND_PREFIX) or len(data.encode()) > CALLBACK_DATA_BYTES:
        return None
    command = data[len(COMMAND_PREFIX) :]
    return command if command.startswith("/") else None


@dataclass(frozen=True, slots=True)
class Citation:
    file: str
    title: str
    page: int
    excerpt: str = field(default="", compare=False)  # the cited lines, for a source preview (Teams)

    def label(self) -> str:
        return f"[{self.title}, S. {self.page}]"


@dataclass(frozen=True, slots=True)
class Answer:
    """A final reply: light Markdown text and the pages it rests on."""

    text: str
    citations: tuple[Citation, ...] = ()
    kind: AnswerKind = "answer"
    ask_feedback: bool = False  # adapters add 👍/👎 under real answers
    feedback_id: str | None = None  # set by the core once the answer is stored; see ``feedback_data``
    buttons: tuple[Button, ...] = ()  # command buttons under the text (confirmations, "📄 PDF", …)
    ai_generated: bool = False  # a language model wrote the text (Teams labels it "AI generated")


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
class Document:
    """A file to send (pages of a manual as PDF): Telegram ``sendDocument``, Teams file consent or link."""

    data: bytes
    name: str  # the file name the user sees, e.g. "SolarFux SF-5000TL S. 12-14.pdf"
    caption: str
    citation: Citation | None = None  # the manual and first page it comes from
    mime: str = "application/pdf"


@dataclass(frozen=True, slots=True)
class Picture:
    """A generated image (a chart) with its caption: Telegram ``sendPhoto``, Teams inline image."""

    png: bytes
    caption: str
    name: str = "Diagramm.png"


@dataclass(frozen=True, slots=True)
class Partial:
    """Streaming: the answer so far (adapters may show it progressively)."""

    text: str


@dataclass(frozen=True, slots=True)
class Progress:
    """A long job's state: adapters send the first one of a turn and edit it for the next ones."""

    text: str
    done: bool = False  # the last update of this job


@dataclass(frozen=True, slots=True)
class Status:
    """What the engine is doing right now ("Suche: E013"); shown in place while the turn
    runs (private chats only), replaced by the next one, never stored."""

    text: str


@dataclass(frozen=True, slots=True)
class Typing:
    """The core is working; adapters show a typing indicator."""


def feedback_data(feedback_id: str, value: int) -> str:
    """A 👍 (``+1``) or 👎 (``-1``) button's callback data for the answer ``feedback_id``."""
    if isinstance(value, bool) or value not in (1, -1):
        raise ValueError(f"feedback is +1 or -1, not {value!r}")
    data = f"{FEEDBACK_PREFIX}{feedback_id}:{value:+d}"
    if not _FEEDBACK.fullmatch(data) or len(data.encode()) > CALLBACK_DATA_BYTES:
        raise ValueError(f"unusable feedback id {feedback_id[:80]!r}")
    return data


def option_data(number: int) -> str:
    """The callback data of the button for a clarification's option ``number`` (1-based)."""
    return f"{OPTION_PREFIX}{number}"


def parse_option(data: str) -> int | None:
    """The option number a pressed button stands for; None when it is no option button."""
    if not data.startswith(OPTION_PREFIX) or not data[len(OPTION_PREFIX) :].isdigit():
        return None
    number = int(data[len(OPTION_PREFIX) :])
    return number if 1 <= number <= 99 else None


def parse_feedback(data: str) -> tuple[str, int] | None:
    """``(feedback_id, +1 | -1)`` from a button's callback data; None when it is not a valid vote."""
    found = _FEEDBACK.fullmatch(data)
    if found is None or len(data.encode()) > CALLBACK_DATA_BYTES:
        return None
    return found.group(1), int(found.group(2))


Reply = Answer | Clarification | PageImage | Document | Picture | Partial | Progress | Status | Typing
