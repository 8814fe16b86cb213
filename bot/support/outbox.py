"""Posting into a chat other than the current turn's: the need, platform-free.

The support desk writes into the support team's chat while a technician's turn runs,
and into a technician's chat while an agent's turn runs. A platform that can do that
implements :class:`Outbox` (Telegram: ``sendMessage``/``sendPhoto`` to a chat id;
Teams: a proactive message through the chat's stored conversation reference) and is
registered with :class:`Outboxes` by ``nik serve``, like the job notes of
``bot.runtime.jobs``. A post that cannot be delivered raises :class:`PostFailed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.errors import NikError
from storage.store import ChatKey

TEXT_LIMIT = 4000  # characters: under Telegram's 4096 and far under Teams' limit


class PostFailed(NikError):
    """A post could not be delivered (platform not served here, chat unknown, refused)."""


@dataclass(frozen=True, slots=True)
class Post:
    """Plain text (shown as typed, no Markdown) and JPEG photos, optionally as a reply."""

    text: str
    photos: tuple[bytes, ...] = ()
    reply_to: str | None = None  # a message id in that chat (Telegram reply; Teams: the thread's root)

    @property
    def clipped(self) -> str:
        return self.text if len(self.text) <= TEXT_LIMIT else self.text[: TEXT_LIMIT - 1] + "…"


@runtime_checkable
class Outbox(Protocol):
    """A platform that can write into any of its chats outside that chat's turn."""

    async def post(self, key: ChatKey, post: Post) -> tuple[str, ...]:
        """Send ``post`` to ``key``'s chat (its thread/topic too); the ids of the messages
        sent, the text's first. Raises ``PostFailed``."""
        ...


class Outboxes:
    """The outboxes of the platforms this process serves, by platform name."""

    def __init__(self) -> None:
        self._outboxes: dict[str, Outbox] = {}

    def register(self, platform: str, outbox: Outbox) -> None:
        self._outboxes[platform] = outbox

    async def post(self, key: ChatKey, post: Post) -> tuple[str, ...]:
        outbox = self._outboxes.get(key.platform)
        if outbox is None:
            raise PostFailed(f"no platform {key.platform!r} here can post")
        return await outbox.post(key, post)
