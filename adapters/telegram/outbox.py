"""Outbound pacing: Telegram's flood limits kept, ``429 retry_after`` honoured.

Telegram asks bots to stay under about one message per second in a chat, 20 per
minute in a group and 30 per second overall; beyond that it answers 429 with
``retry_after``. ``Throttle`` delays a send until all three windows have room
(nothing is dropped, sends only wait). ``Outbox.send`` runs one API call through
the throttle and retries it after a 429 (the chat waits as long as Telegram says)
or a network failure, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Limits:
    chat_interval: float = 1.0  # seconds between two messages in one chat
    group_per_minute: int = 20
    global_per_second: int = 30
    retries: int = 6  # attempts after a 429 or a network failure
    network_backoff: float = 0.5  # seconds, doubled per attempt


class Throttle:
    """Sliding windows per chat, per group and overall."""

    def __init__(self, limits: Limits, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._global: deque[float] = deque()
        self._chats: dict[int | str, deque[float]] = {}
        self._blocked: dict[int | str, float] = {}  # chat → until when Telegram asked us to wait

    def delay(self, chat: int | str, group: bool) -> float:
        """Seconds until ``chat`` may send again (0: now)."""
        now = self._clock()
        limits = self._limits
        while self._global and self._global[0] <= now - 1.0:
            self._global.popleft()
        sent = self._chats.get(chat, deque())
        while sent and sent[0] <= now - 60.0:
            sent.popleft()
        waits = [self._blocked.get(chat, now) - now]
        if len(self._global) >= limits.global_per_second:
            waits.append(self._global[0] + 1.0 - now)
        if sent:
            waits.append(sent[-1] + limits.chat_interval - now)
        if group and len(sent) >= limits.group_per_minute:
            waits.append(sent[-limits.group_per_minute] + 60.0 - now)
        return max(0.0, *waits)

    async def wait(self, chat: int | str, group: bool) -> None:
        """Wait for room, then count one send to ``chat``."""
        while (pause := self.delay(chat, group)) > 0:
            await self._sleep(pause)
        now = self._clock()
        self._global.append(now)
        self._chats.setdefault(chat, deque()).append(now)
        if len(self._chats) > 10_000:  # forget idle chats
            idle = [c for c, times in self._chats.items() if not times or times[-1] < now - 60.0]
            for c in idle:
                del self._chats[c]

    def block(self, chat: int | str, seconds: float) -> None:
        self._blocked[chat] = max(self._blocked.get(chat, 0.0), self._clock() + seconds)


class Outbox:
    def __init__(self, limits: Limits, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._limits = limits
        self._sleep = sleep
        self.throttle = Throttle(limits, clock, sleep)

    async def send(self, chat: int | str, group: bool, call: Callable[[], Awaitable[T]], *, paced: bool = True) -> T:
        """Run ``call`` (one Bot API request) within the limits; retried after 429 and network errors.

        ``paced=False`` for requests that are no messages (typing, answering a button press)."""
        attempt = 0
        while True:
            if paced:
                await self.throttle.wait(chat, group)
            try:
                return await call()
            except RetryAfter as error:
                attempt += 1
                if attempt > self._limits.retries:
                    raise
                seconds = retry_seconds(error)
                log.warning("Telegram asks chat %s to wait %.1f s (429)", chat, seconds)
                self.throttle.block(chat, seconds)
                if not paced:
                    await self._sleep(seconds)
            except BadRequest:
                raise  # a request Telegram refuses: repeating it does not help
            except NetworkError as error:
                attempt += 1
                if attempt > self._limits.retries:
                    raise
                log.warning("Telegram request for chat %s failed (%s), retrying", chat, error)
                await self._sleep(self._limits.network_backoff * 2 ** (attempt - 1))


def retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # int vs timedelta, by PTB_TIMEDELTA
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
