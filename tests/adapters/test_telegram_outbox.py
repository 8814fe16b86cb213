"""Outbound pacing with a fake clock: per chat, per group, overall; 429 honoured."""

from __future__ import annotations

import pytest
from telegram.error import BadRequest, RetryAfter, TimedOut

from adapters.telegram.outbox import Limits, Outbox, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def send_times(throttle: Throttle, clock: Clock, chats: list[int], group: bool = False) -> list[float]:
    times = []
    for chat in chats:
        await throttle.wait(chat, group)
        times.append(round(clock.now - 1000.0, 3))
    return times


async def test_one_message_per_second_in_a_chat() -> None:
    clock = Clock()
    throttle = Throttle(Limits(), clock, clock.sleep)
    assert await send_times(throttle, clock, [1, 1, 1]) == [0.0, 1.0, 2.0]
    assert await send_times(throttle, clock, [2]) == [2.0]  # another chat does not wait


async def test_twenty_per_minute_in_a_group() -> None:
    clock = Clock()
    throttle = Throttle(Limits(chat_interval=0.0), clock, clock.sleep)
    times = await send_times(throttle, clock, [-5] * 21, group=True)
    assert times[:20] == [0.0] * 20 and times[20] == 60.0
    private = Throttle(Limits(chat_interval=0.0), clock, clock.sleep)
    assert (await send_times(private, clock, [5] * 21))[20] == 60.0  # private chats have no minute window


async def test_thirty_per_second_overall() -> None:
    clock = Clock()
    throttle = Throttle(Limits(), clock, clock.sleep)
    times = await send_times(throttle, clock, list(range(31)))
    assert times[:30] == [0.0] * 30 and times[30] == 1.0


async def test_429_waits_as_told_and_retries() -> None:
    clock = Clock()
    outbox = Outbox(Limits(), clock, clock.sleep)
    answers = [RetryAfter(7), RetryAfter(2), "sent"]

    async def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert await outbox.send(1, False, call) == "sent"
    assert clock.now - 1000.0 == pytest.approx(9.0)


async def test_network_errors_are_retried_a_bounded_number_of_times_bad_requests_never() -> None:
    clock = Clock()
    outbox = Outbox(Limits(retries=2, chat_interval=0.0), clock, clock.sleep)
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        raise TimedOut()

    with pytest.raises(TimedOut):
        await outbox.send(1, False, flaky)
    assert calls == 3

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise BadRequest("Bad Request: chat not found")

    calls = 0
    with pytest.raises(BadRequest):
        await outbox.send(1, False, refused)
    assert calls == 1
