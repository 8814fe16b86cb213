"""The one retry policy: tenacity, jittered exponential backoff, a server's hint, a deadline, one log line per retry.

A ``Retry`` says which errors are worth another try (``retry_on``) and how often
to try (``attempts``; ``None``: until it works). The wait is the server's own hint
when ``hint`` finds one in the error (Telegram's ``retry_after``, a ``Retry-After``
header), else it is drawn at random below a bound that doubles from ``first``
seconds up to ``most`` (full jitter). A call may bring a ``deadline``, a value of
``clock`` (``time.monotonic()``): a wait that would end at or past it is not begun
and the last error is raised instead, so no retry starts after the deadline and a
server hint that does not fit means giving up at once. Each retry logs one line
with the attempt number and the error (``describe``: its type and message unless
the caller says otherwise); when no try is left the last error is raised unchanged.

Each remote service configures it once, where its errors are known:
``adapters.telegram.client``, ``adapters.teams.outbound``, and ``bot.agent.llm``
for the OpenAI-compatible endpoints (chat completions and speech to text).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_never
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

log = logging.getLogger(__name__)

T = TypeVar("T")
Hint = Callable[[BaseException], float | None]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
Describe = Callable[[BaseException], str]


@dataclass(frozen=True, slots=True)
class Retry:
    retry_on: Callable[[BaseException], bool]
    attempts: int | None = None  # in all, the first one included; None: until it works
    first: float = 0.5  # seconds: the upper bound of the first wait, doubled per attempt…
    most: float = 30.0  # …up to this
    hint: Hint | None = None  # the wait the server asked for, if the error tells
    level: int = logging.WARNING
    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic  # what a ``deadline`` is a value of
    describe: Describe = lambda error: f"{type(error).__name__}: {error}"  # the error in the log line

    async def run(self, what: str, call: Callable[[], Awaitable[T]], *, deadline: float | None = None) -> T:
        """``await call()`` under this policy, no wait past ``deadline``; ``what`` names it in the log.

        The first attempt runs as a plain call: most calls succeed at once, and tenacity's
        controller costs more than a cheap call itself (30–60 µs on a turn's path). Only a
        first failure worth retrying brings the controller in, which replays that failure
        as its attempt 1 and goes on from there."""
        try:
            return await call()
        except BaseException as error:
            if self.attempts == 1 or not self.retry_on(error):
                raise
            failed: BaseException | None = error
        async for attempt in self._controller(what, deadline):
            with attempt:
                if failed is not None:
                    replayed, failed = failed, None
                    raise replayed
                return await call()
        raise AssertionError("unreachable")  # tenacity returns the result or raises the last error

    def _controller(self, what: str, deadline: float | None) -> AsyncRetrying:
        backoff = wait_random_exponential(multiplier=self.first, max=self.most, min=min(self.first, 0.05))

        def wait(state: RetryCallState) -> float:
            error = _error(state)
            told = self.hint(error) if self.hint is not None and error is not None else None
            return told if told is not None else float(backoff(state))

        def note(state: RetryCallState) -> None:
            error = _error(state)
            failure = self.describe(error) if error is not None else "no error"
            log.log(
                self.level,
                "%s failed (attempt %d: %s); retrying in %.1f s",
                what,
                state.attempt_number,
                failure,
                state.upcoming_sleep,
            )

        stop: stop_base = stop_after_attempt(self.attempts) if self.attempts is not None else stop_never
        if deadline is not None:
            stop = stop | _WaitPasses(deadline, self.clock)
        return AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(self.retry_on),
            before_sleep=note,
            sleep=self.sleep,
            reraise=True,
        )


class _WaitPasses(stop_base):
    """Stop when the next wait would end at or past ``deadline`` (a value of ``clock``)."""

    def __init__(self, deadline: float, clock: Clock) -> None:
        self._deadline = deadline
        self._clock = clock

    def __call__(self, state: RetryCallState) -> bool:
        return self._clock() + state.upcoming_sleep >= self._deadline


def _error(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None
