"""The adapters' one retry policy: tenacity, jittered exponential backoff, one log line per retry.

A ``Retry`` says which errors are worth another try (``retry_on``) and how often
to try (``attempts``; ``None``: until it works). The wait is the server's own hint
when ``hint`` finds one in the error (Telegram's ``retry_after``, the connector's
``Retry-After``), else it doubles from ``first`` seconds up to ``most`` with full
jitter. Each retry logs one line with the attempt number and the error; when no
try is left the last error is raised unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_never
from tenacity.wait import wait_random_exponential

log = logging.getLogger(__name__)

T = TypeVar("T")
Hint = Callable[[BaseException], float | None]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Retry:
    retry_on: Callable[[BaseException], bool]
    attempts: int | None = None  # in all, the first one included; None: until it works
    first: float = 0.5  # seconds: the upper bound of the first wait, doubled per attempt…
    most: float = 30.0  # …up to this
    hint: Hint | None = None  # the wait the server asked for, if the error tells
    level: int = logging.WARNING
    sleep: Sleep = asyncio.sleep

    async def run(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``await call()`` under this policy; ``what`` names it in the log."""
        async for attempt in self._controller(what):
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # tenacity returns the result or raises the last error

    def _controller(self, what: str) -> AsyncRetrying:
        backoff = wait_random_exponential(multiplier=self.first, max=self.most, min=min(self.first, 0.05))

        def wait(state: RetryCallState) -> float:
            error = _error(state)
            told = self.hint(error) if self.hint is not None and error is not None else None
            return told if told is not None else float(backoff(state))

        def note(state: RetryCallState) -> None:
            error = _error(state)
            log.log(
                self.level,
                "%s failed (attempt %d: %s: %s); retrying in %.1f s",
                what,
                state.attempt_number,
                type(error).__name__,
                error,
                state.upcoming_sleep,
            )

        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts) if self.attempts is not None else stop_never,
            wait=wait,
            retry=retry_if_exception(self.retry_on),
            before_sleep=note,
            sleep=self.sleep,
            reraise=True,
        )


def _error(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None
