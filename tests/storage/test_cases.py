"""Support cases on SQLite and PostgreSQL: numbers, posts per support chat, closing, counting, forgetting."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from storage.cases import Cases
from storage.models import InboxItem
from storage.store import ChatKey, Receipt, Store
from storage_helpers import T0, ManualClock

SUPPORT = ChatKey("telegram", "-100900")
OTHER_SUPPORT = ChatKey("telegram", "-100901")
ANNA = ChatKey("telegram", "100")
BERT = ChatKey("teams", "a:bert", "7")


async def test_numbers_count_up_and_are_never_reused(store: Store, clock: ManualClock) -> None:
    cases = Cases(store.engine, clock=clock)
    first = await cases.open(ANNA, "42", "Anna", "Hilfe", SUPPORT)
    second = await cases.open(BERT, "43", "Bert", "", SUPPORT)
    assert (first.number, second.number) == (1, 2) and first.is_open and first.opened_at == T0
    assert await cases.forget(BERT, "43") == 1
    assert (await cases.open(BERT, "43", "Bert", "wieder", SUPPORT)).number == 3
    assert await cases.forget(ANNA, "other user") == 0 and await cases.by_number(1) is not None


async def test_concurrent_openings_get_distinct_numbers(store: Store) -> None:
    cases = Cases(store.engine)
    opened = await asyncio.gather(*(cases.open(ChatKey("telegram", str(n)), "1", "x", "", SUPPORT) for n in range(8)))
    assert sorted(c.number for c in opened) == list(range(1, 9))


async def test_a_post_finds_its_case_only_in_its_own_support_chat(store: Store) -> None:
    cases = Cases(store.engine)
    case = await cases.open(ANNA, "42", "Anna", "Hilfe", SUPPORT)
    await cases.posted(case.number, "5", root=True)
    await cases.posted(case.number, "9")
    found = await cases.by_post(SUPPORT, ["9"])
    assert found is not None and found.number == case.number and found.support_message_id == "5"
    assert found.chat == ANNA and found.user_id == "42" and found.words == "Hilfe"
    assert await cases.by_post(OTHER_SUPPORT, ["5", "9"]) is None  # the same ids in another chat
    assert await cases.by_post(ChatKey("teams", "-100900"), ["5"]) is None
    assert await cases.by_post(SUPPORT, ["6", ""]) is None and await cases.by_post(SUPPORT, []) is None


async def test_an_open_case_belongs_to_one_user_in_one_chat_until_closed(store: Store, clock: ManualClock) -> None:
    cases = Cases(store.engine, clock=clock)
    case = await cases.open(BERT, "43", "Bert", "", SUPPORT)
    assert await cases.open_case_of(BERT, "43") == case
    assert await cases.open_case_of(BERT, "44") is None
    assert await cases.open_case_of(ChatKey("teams", "a:bert"), "43") is None  # another thread
    assert [c.number for c in await cases.open_cases(SUPPORT)] == [case.number]
    clock.advance(minutes=5)
    assert await cases.close(case.number, "support") is True
    assert await cases.close(case.number, "technician") is False
    closed = await cases.by_number(case.number)
    assert closed is not None and closed.status == "closed" and closed.closed_by == "support"
    assert closed.closed_at == T0 + timedelta(minutes=5)
    assert await cases.open_case_of(BERT, "43") is None and await cases.open_cases(SUPPORT) == []


async def test_cases_per_day(store: Store, clock: ManualClock) -> None:
    cases = Cases(store.engine, clock=clock)
    await cases.open(ANNA, "42", "Anna", "", SUPPORT)
    clock.advance(days=1)
    await cases.open(ANNA, "42", "Anna", "", SUPPORT)
    await cases.open(BERT, "43", "Bert", "", SUPPORT)
    assert await cases.opened_per_day(T0 - timedelta(days=1)) == {T0.date(): 1, (T0 + timedelta(days=1)).date(): 2}
    assert await cases.opened_per_day(T0 + timedelta(hours=1)) == {(T0 + timedelta(days=1)).date(): 2}


async def test_recording_a_post_closes_the_turns_inbox_row(store: Store) -> None:
    cases = Cases(store.engine)
    delivery = await _inbox_row(store)
    case = await cases.open(ANNA, "42", "Anna", "", SUPPORT)
    receipt = Receipt(delivery)
    await cases.posted(case.number, "12", receipt=receipt)
    assert receipt.closed.is_set()
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(InboxItem.done_at).where(InboxItem.id == delivery)) is not None


async def test_any_reference_of_a_chat_is_found_from_one_of_its_threads(store: Store) -> None:
    await store.save_reference(ChatKey("teams", "19:c@thread.tacv2", "111"), {"conversation": {"id": "x"}})
    assert await store.any_reference("teams", "19:c@thread.tacv2") == {"conversation": {"id": "x"}}
    assert await store.reference(ChatKey("teams", "19:c@thread.tacv2")) is None
    assert await store.any_reference("teams", "19:other@thread.tacv2") is None


async def _inbox_row(store: Store) -> int:
    from storage.inbox import Inbox

    delivery = await Inbox(store.engine).put(ANNA, "m1", {"x": 1}, timedelta(minutes=5))
    assert delivery is not None
    return delivery.id
