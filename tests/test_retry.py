"""The one retry policy: what is tried again, how long it waits, where a deadline stops it, what it logs.

A ``Clock`` stands in for time: the policy's ``sleep`` records each wait and moves
the clock on by it, so waits and deadlines are exact and no test sleeps.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from bot.runtime.retry import Retry
from helpers import Flaky


class Busy(Exception):
    """A failure another try may cure."""


class Refused(Exception):
    """A failure no other try will cure."""


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def told(error: BaseException) -> float | None:
    """The server's hint, as the error carries it (``Busy("wait 7")``: 7 s)."""
    words = str(error).split()
    return float(words[1]) if len(words) == 2 and words[0] == "wait" else None


def busy(error: BaseException) -> bool:
    return isinstance(error, Busy)


def policy(clock: Clock, **options: Any) -> Retry:
    return Retry(busy, sleep=clock.sleep, clock=clock, **options)


async def test_a_transient_failure_is_tried_again_with_one_log_line_per_retry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.runtime.retry")
    clock = Clock()
    call = Flaky(Busy("gateway down"), Busy("still down"))
    assert await policy(clock, level=logging.INFO).run("a test call", call) == "done"
    assert call.count == 3
    lines = [r for r in caplog.records if r.name == "bot.runtime.retry"]
    assert [r.levelno for r in lines] == [logging.INFO, logging.INFO]
    assert lines[0].getMessage().startswith("a test call failed (attempt 1: Busy: gateway down); retrying in ")
    assert lines[1].getMessage().startswith("a test call failed (attempt 2: Busy: still down); retrying in ")


async def test_the_log_line_names_the_error_as_the_caller_describes_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.runtime.retry")
    clock = Clock()
    await policy(clock, describe=lambda error: "HTTP 503").run("a test call", Flaky(Busy("a long body")))
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.runtime.retry"]
    assert line.startswith("a test call failed (attempt 1: HTTP 503); retrying in ") and "body" not in line


async def test_an_error_not_worth_retrying_is_raised_at_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.runtime.retry")
    clock = Clock()
    call = Flaky(Refused("no such chat"), Busy("never reached"))
    with pytest.raises(Refused, match="no such chat"):
        await policy(clock).run("a test call", call)
    assert call.count == 1 and clock.waits == []
    assert not [r for r in caplog.records if r.name == "bot.runtime.retry"]


async def test_attempts_bound_the_tries_and_the_last_error_is_raised_unchanged() -> None:
    clock = Clock()
    last = Busy("third")
    call = Flaky(Busy("first"), Busy("second"), last, Busy("never reached"))
    with pytest.raises(Busy) as raised:
        await policy(clock, attempts=3).run("a test call", call)
    assert raised.value is last and call.count == 3 and len(clock.waits) == 2


async def test_without_a_bound_it_tries_until_it_works() -> None:
    clock = Clock()
    call = Flaky(*(Busy("down") for _ in range(20)))
    assert await policy(clock).run("a test call", call) == "done"
    assert call.count == 21


async def test_the_backoff_is_jittered_below_a_bound_that_doubles_up_to_the_most() -> None:
    clock = Clock()
    await policy(clock, first=1.0, most=4.0).run("a test call", Flaky(*(Busy("down") for _ in range(5))))
    bounds = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(0.05 <= wait <= bound for wait, bound in zip(clock.waits, bounds, strict=True))


async def test_the_servers_hint_is_the_wait() -> None:
    clock = Clock()
    call = Flaky(Busy("wait 7"), Busy("no hint"))
    assert await policy(clock, first=0.5, hint=told).run("a test call", call) == "done"
    assert clock.waits[0] == 7.0  # as the server asked, beyond the backoff's bound
    assert 0.05 <= clock.waits[1] <= 1.0  # no hint: the backoff


async def test_the_deadline_stops_before_a_wait_that_would_end_past_it() -> None:
    clock = Clock()
    call = Flaky(*(Busy("wait 1") for _ in range(10)))
    with pytest.raises(Busy):
        await policy(clock, hint=told).run("a test call", call, deadline=clock() + 2.5)
    assert clock.waits == [1.0, 1.0]  # tries at +0, +1 and +2; a wait to +3 would pass +2.5
    assert call.count == 3


async def test_a_hint_that_does_not_fit_before_the_deadline_gives_up_at_once() -> None:
    clock = Clock()
    call = Flaky(Busy("wait 30"), Busy("never reached"))
    with pytest.raises(Busy, match="wait 30"):
        await policy(clock, hint=told).run("a test call", call, deadline=clock() + 5.0)
    assert call.count == 1 and clock.waits == []


async def test_attempts_and_deadline_together_stop_at_whichever_comes_first() -> None:
    clock = Clock()
    call = Flaky(*(Busy("wait 1") for _ in range(10)))
    with pytest.raises(Busy):
        await policy(clock, attempts=2, hint=told).run("a test call", call, deadline=clock() + 60.0)
    assert call.count == 2


async def test_by_default_a_deadline_is_a_time_monotonic_value_and_the_wait_is_real() -> None:
    call = Flaky(Busy("down"))
    assert await Retry(busy, first=0.01).run("a test call", call, deadline=time.monotonic() + 5.0) == "done"
    assert call.count == 2
