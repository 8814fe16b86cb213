"""The inbox and the dispatcher: stored before acknowledged, once per update, per-chat order, takeover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.runtime.dispatcher import MAX_ATTEMPTS, Dispatcher
from storage.inbox import Delivery, Inbox
from storage.store import ChatKey, Receipt, Store

LEASE = timedelta(seconds=60)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def inbox(backend_url: str, clock: Clock) -> AsyncIterator[Inbox]:
    """An inbox on this test's own database: SQLite, then PostgreSQL."""
    store = await Store.open(backend_url)
    yield Inbox(store.engine, clock=clock)
    await store.close()


class Recorder:
    """A platform that records what it ran, optionally slowly or failing; ``started`` is set
    when it begins its first update."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.ran: list[tuple[ChatKey, str]] = []
        self.delay = delay
        self.fail = fail
        self.started = asyncio.Event()

    async def __call__(self, delivery: Delivery, receipt: Receipt) -> None:
        self.started.set()
        await asyncio.sleep(self.delay)
        self.ran.append((delivery.key, delivery.payload["text"]))
        if self.fail:
            raise RuntimeError("rendering failed")


def key(chat: str) -> ChatKey:
    return ChatKey("telegram", chat)


async def test_a_redelivered_update_is_stored_once(inbox: Inbox) -> None:
    assert await inbox.put(key("1"), "m1", {"text": "a"}, LEASE) is not None
    assert await inbox.put(key("1"), "m1", {"text": "a again"}, LEASE) is None
    assert await inbox.put(key("2"), "m1", {"text": "other chat"}, LEASE) is not None
    assert await inbox.pending() == 2


async def test_a_pending_update_is_taken_again_only_after_its_lease(inbox: Inbox, clock: Clock) -> None:
    await inbox.put(key("1"), "m1", {"text": "a"}, LEASE)
    assert await inbox.take_expired(LEASE, ["telegram"]) == []
    clock.now += LEASE + timedelta(seconds=1)
    assert await inbox.take_expired(LEASE, ["teams"]) == []  # not this process's platform
    taken = await inbox.take_expired(LEASE, ["telegram"])
    assert [(d.message_id, d.payload, d.attempts) for d in taken] == [("m1", {"text": "a"}, 2)]
    assert await inbox.take_expired(LEASE, ["telegram"]) == []  # now leased to the taker
    await inbox.done(taken[0].id)
    clock.now += 2 * LEASE
    assert await inbox.take_expired(LEASE, ["telegram"]) == []
    assert await inbox.pending() == 0


async def test_two_processes_never_take_the_same_update(backend_url: str, clock: Clock) -> None:
    stores = [await Store.open(backend_url) for _ in range(2)]
    try:
        first, second = (Inbox(s.engine, clock=clock) for s in stores)
        for n in range(20):
            await first.put(key(str(n % 4)), f"m{n}", {"text": str(n)}, LEASE)
        clock.now += 2 * LEASE
        a, b = await asyncio.gather(first.take_expired(LEASE, ["telegram"]), second.take_expired(LEASE, ["telegram"]))
        ids = [d.id for d in a] + [d.id for d in b]
        assert sorted(ids) == sorted(set(ids)) and len(ids) == 20
    finally:
        for s in stores:
            await s.close()


class Waiting(Recorder):
    """Chat a's first update waits until chat c has run all of its own: that can only finish
    if chats run in parallel."""

    def __init__(self) -> None:
        super().__init__()
        self.c_done = asyncio.Event()

    async def __call__(self, delivery: Delivery, receipt: Receipt) -> None:
        if delivery.payload["text"] == "a0":
            await self.c_done.wait()
        await super().__call__(delivery, receipt)
        if delivery.payload["text"] == "c4":
            self.c_done.set()


async def test_one_chat_runs_in_order_and_chats_run_in_parallel(inbox: Inbox) -> None:
    platform = Waiting()
    dispatcher = Dispatcher(inbox, lease=LEASE)
    dispatcher.register("telegram", platform)
    for n in range(5):
        for chat in ("a", "b", "c"):
            assert await dispatcher.submit(key(chat), f"{chat}{n}", {"text": f"{chat}{n}"})
    await asyncio.wait_for(dispatcher.drain(), 10)  # chat a waited for chat c: no deadlock
    for chat in ("a", "b", "c"):
        assert [text for k, text in platform.ran if k == key(chat)] == [f"{chat}{n}" for n in range(5)]
    assert platform.ran.index((key("c"), "c4")) < platform.ran.index((key("a"), "a0"))
    assert await inbox.pending() == 0


async def test_a_redelivery_is_not_run_twice(inbox: Inbox) -> None:
    platform = Recorder()
    dispatcher = Dispatcher(inbox, lease=LEASE)
    dispatcher.register("telegram", platform)
    results = await asyncio.gather(*(dispatcher.submit(key("1"), "m1", {"text": "q"}) for _ in range(20)))
    await asyncio.wait_for(dispatcher.drain(), 5)
    assert results.count(True) == 1
    assert platform.ran == [(key("1"), "q")]


async def test_a_failing_platform_is_logged_and_the_update_closed(
    inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = Dispatcher(inbox, lease=LEASE)
    dispatcher.register("telegram", Recorder(fail=True))
    await dispatcher.submit(key("1"), "m1", {"text": "q"})
    await asyncio.wait_for(dispatcher.drain(), 5)
    assert "update" in caplog.text and "failed" in caplog.text
    assert await inbox.pending() == 0


async def test_a_restarted_process_takes_over_what_a_dead_one_left(inbox: Inbox, clock: Clock) -> None:
    await inbox.put(key("1"), "m1", {"text": "asked before the crash"}, LEASE)  # the dead process's claim
    platform = Recorder()
    dispatcher = Dispatcher(inbox, lease=LEASE)
    dispatcher.register("telegram", platform)
    await dispatcher.start()
    try:
        assert platform.ran == []  # its lease still runs: the other process may be alive
        clock.now += LEASE + timedelta(seconds=1)
        assert await dispatcher.sweep() == 1
        await asyncio.wait_for(dispatcher.drain(), 5)
        assert platform.ran == [(key("1"), "asked before the crash")]
    finally:
        await dispatcher.stop()


async def test_an_update_that_keeps_killing_its_process_is_given_up(inbox: Inbox, clock: Clock) -> None:
    await inbox.put(key("1"), "m1", {"text": "poison"}, LEASE)
    for _ in range(MAX_ATTEMPTS - 1):  # processes that died on it
        clock.now += 2 * LEASE
        assert await inbox.take_expired(LEASE, ["telegram"])
    platform = Recorder()
    dispatcher = Dispatcher(inbox, lease=LEASE)
    dispatcher.register("telegram", platform)
    clock.now += 2 * LEASE
    assert await dispatcher.sweep() == 1
    await asyncio.wait_for(dispatcher.drain(), 5)
    assert platform.ran == []
    assert await inbox.pending() == 0


async def test_stop_cancels_a_turn_past_its_grace_and_leaves_it_pending(inbox: Inbox) -> None:
    dispatcher = Dispatcher(inbox, lease=LEASE)
    platform = Recorder(delay=30)
    dispatcher.register("telegram", platform)
    await dispatcher.start()
    await dispatcher.submit(key("1"), "m1", {"text": "slow"})
    await asyncio.wait_for(platform.started.wait(), 5)
    await asyncio.wait_for(dispatcher.stop(grace=0.1), 5)
    assert await inbox.pending() == 1  # the next process answers it


async def test_an_unknown_platform_is_refused(inbox: Inbox) -> None:
    dispatcher = Dispatcher(inbox, lease=LEASE)
    with pytest.raises(ValueError, match="teams"):
        await dispatcher.submit(ChatKey("teams", "1"), "m1", {})
    assert await inbox.pending() == 0


async def test_the_heartbeat_keeps_a_turn_longer_than_its_lease_from_being_taken_over(backend_url: str) -> None:
    stores = [await Store.open(backend_url) for _ in range(2)]
    lease = timedelta(seconds=0.3)
    busy, other = (
        Dispatcher(Inbox(stores[0].engine), lease=lease),
        Dispatcher(Inbox(stores[1].engine), lease=lease, sweep_seconds=0.05),
    )
    slow, taker = Recorder(delay=1.5), Recorder()  # five leases long
    busy.register("telegram", slow)
    other.register("telegram", taker)
    await busy.start()
    await other.start()  # another replica, sweeping for expired leases all the while
    try:
        assert await busy.submit(key("1"), "m1", {"text": "lang"})
        await asyncio.wait_for(busy.drain(), 10)
        assert slow.ran == [(key("1"), "lang")]
        await other.sweep()
        await asyncio.wait_for(other.drain(), 10)
        assert taker.ran == []  # it would have run it at once had it ever taken it
        assert await Inbox(stores[0].engine).pending() == 0
    finally:
        for dispatcher in (busy, other):
            await dispatcher.stop()
        for store in stores:
            await store.close()
