"""Who may ask Nik, and how often — before anything of a message is stored.

* **Allow lists** (``NIK_ALLOWED_CHATS``, ``NIK_ALLOWED_USERS``): when either is set,
  a message is admitted only from a listed chat or a listed user (entries are
  ``platform:id`` or a bare id). Anyone else gets one polite refusal per chat and
  then silence; nothing of theirs is stored.
* **Rate limit** (``NIK_RATE_LIMIT`` requests per user per minute, 0: off): a user
  over the limit gets one friendly note per minute and then silence until the
  minute has room again. 👍/👎 presses are not counted.

The limits live in this process's memory: a restart forgets them, which is fine
for a courtesy limit.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from bot.config import Settings
from bot.core.messages import IncomingMessage

REFUSAL = (
    "Entschuldigung, hier darf ich leider nicht antworten. "
    "Bitte wenden Sie sich an Ihren Ansprechpartner für Nik, wenn Sie Zugang brauchen."
)
SLOW_DOWN = (
    "Sie fragen gerade sehr schnell hintereinander – bitte einen Moment Geduld, gleich bin ich wieder für Sie da."
)
WINDOW = 60.0  # seconds
_REMEMBERED = 10_000  # refused chats remembered before the memory starts over


class Gate:
    def __init__(
        self,
        *,
        rate_limit: int = 0,
        allowed_chats: frozenset[str] = frozenset(),
        allowed_users: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate_limit = rate_limit
        self._chats = allowed_chats
        self._users = allowed_users
        self._clock = clock
        self._refused: set[tuple[str, str]] = set()
        self._asked: dict[tuple[str, str], deque[float]] = {}
        self._noted: dict[tuple[str, str], float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Gate:
        return cls(
            rate_limit=settings.rate_limit,
            allowed_chats=settings.allowed_chats,
            allowed_users=settings.allowed_users,
        )

    def check(self, message: IncomingMessage, *, count: bool = True) -> str | None:
        """None: go ahead. Otherwise the note to send instead ("" for silence).

        ``count``: the message counts towards the rate limit."""
        if not self._allowed(message):
            chat = (message.platform, message.chat_id)
            if chat in self._refused:
                return ""
            if len(self._refused) >= _REMEMBERED:
                self._refused.clear()
            self._refused.add(chat)
            return REFUSAL
        if not count or self._rate_limit <= 0:
            return None
        return self._rate(message)

    def _allowed(self, message: IncomingMessage) -> bool:
        if not self._chats and not self._users:
            return True
        return _listed(self._chats, message.platform, message.chat_id) or _listed(
            self._users, message.platform, message.user_id
        )

    def _rate(self, message: IncomingMessage) -> str | None:
        user = (message.platform, message.user_id)
        now = self._clock()
        asked = self._asked.setdefault(user, deque())
        while asked and asked[0] <= now - WINDOW:
            asked.popleft()
        if len(asked) < self._rate_limit:
            asked.append(now)
            self._noted.pop(user, None)
            self._forget_idle(now)
            return None
        noted = self._noted.get(user)
        if noted is not None and noted > now - WINDOW:
            return ""
        self._noted[user] = now
        return SLOW_DOWN

    def _forget_idle(self, now: float) -> None:
        if len(self._asked) <= _REMEMBERED:
            return
        for user in [u for u, times in self._asked.items() if not times or times[-1] <= now - WINDOW]:
            del self._asked[user]


def _listed(entries: frozenset[str], platform: str, ident: str) -> bool:
    return f"{platform}:{ident}" in entries or ident in entries
