"""The inbox across processes: one row per update, arrival order and renewed leases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage.inbox import Delivery, Inbox
from storage.store import ChatKey, Store
from storage_helpers import ManualClock

LEASE = timedelta(seconds=60)
ONE, TWO = ChatKey("telegram", "1"), ChatKey("telegram", "2")


def _put(delivery: Delivery | None) -> Delivery:
    assert delivery is not None
    return delivery


async def test_a_later_update_of_a_chat_is_next_only_when_the_earlier_ones_are_done(
    store: Store, clock: ManualClock
) -> None:
    inbox = Inbox(store.engine, clock=clock)
    first = _put(await inbox.put(ONE, "m1", {}, LEASE))
    second = _put(await inbox.put(ONE, "m2", {}, LEASE))
    elsewhere = _put(await inbox.put(TWO, "m3", {}, LEASE))
    assert await inbox.is_next(first)
    assert not await inbox.is_next(second)
    assert await inbox.is_next(elsewhere)  # other chats do not wait
    await inbox.done(first.id)
    assert await inbox.is_next(second)


async def test_put_says_whether_an_earlier_update_of_the_chat_is_pending(store: Store, clock: ManualClock) -> None:
    inbox = Inbox(store.engine, clock=clock)
    first = _put(await inbox.put(ONE, "m1", {}, LEASE))
    second = _put(await inbox.put(ONE, "m2", {}, LEASE))
    elsewhere = _put(await inbox.put(TWO, "m1", {}, LEASE))
    assert (first.first_pending, second.first_pending, elsewhere.first_pending) == (True, False, True)
    await inbox.done(first.id)
    assert not _put(await inbox.put(ONE, "m3", {}, LEASE)).first_pending  # m2 is still pending
    await inbox.done(second.id)
    assert not (await inbox.is_next(_put(await inbox.put(ONE, "m4", {}, LEASE))))  # m3 is


async def test_a_redelivery_racing_in_two_processes_is_stored_once(store: Store, db_url: str) -> None:
    second = await Store.open(db_url)  # another replica receiving the same re-delivery
    try:
        inboxes = (Inbox(store.engine), Inbox(second.engine))
        results = await asyncio.gather(*(i.put(ONE, "m9", {}, LEASE) for _ in range(10) for i in inboxes))
    finally:
        await second.close()
    assert sum(result is not None for result in results) == 1


async def test_held_leases_are_renewed_together_before_they_run_out(store: Store, clock: ManualClock) -> None:
    inbox = Inbox(store.engine, clock=clock)
    held = [_put(await inbox.put(ONE, f"m{n}", {}, LEASE)) for n in (1, 2)]
    clock.advance(seconds=40)
    renewed = await inbox.renew_all(held, LEASE)
    assert sorted(renewed) == sorted(d.id for d in held)
    assert all(d.lease_until == clock.now + LEASE for d in renewed.values())
    clock.advance(seconds=40)  # past the first lease, within the renewed one
    assert await inbox.take_expired(LEASE, ["telegram"]) == []


async def test_a_lease_taken_over_by_another_process_is_lost(store: Store, clock: ManualClock, db_url: str) -> None:
    mine = Inbox(store.engine, clock=clock)
    other_store = await Store.open(db_url, clock=clock)
    try:
        held = _put(await mine.put(ONE, "m1", {}, LEASE))
        clock.advance(seconds=61)  # this process stalled past its lease
        [taken] = await Inbox(other_store.engine, clock=clock).take_expired(LEASE, ["telegram"])
        assert taken.id == held.id and taken.attempts == 2
        assert await mine.renew_all([held], LEASE) == {}
        assert list(await Inbox(other_store.engine, clock=clock).renew_all([taken], LEASE)) == [taken.id]
    finally:
        await other_store.close()
