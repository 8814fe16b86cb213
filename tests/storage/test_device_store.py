"""The chat's device and pending confirmations in the store: read with the turn's state,
changed by the turn's write, kept per chat and thread; a confirmation only while it is open."""

from __future__ import annotations

from datetime import timedelta

from storage.store import ChatKey, Device, NewMessage, Store
from storage_helpers import ManualClock

KEY = ChatKey("telegram", "g", "7")


async def test_the_turn_reads_and_writes_the_device(store: Store, clock: ManualClock) -> None:
    assert (await store.turn_state(KEY, 6)).device is None
    question = NewMessage("user", "Typenschild", user_id="anna")
    await store.save_turn(KEY, [question], device=Device("SolarFux SF-5000TL", "SF-5000TL", "anna"))
    state = await store.turn_state(KEY, 6)
    assert state.device == Device("SolarFux SF-5000TL", "SF-5000TL", "anna", clock.now)
    assert [m.content for m in state.history] == ["Typenschild"]
    await store.save_turn(KEY, [NewMessage("user", "weiter", user_id="ben")])  # "keep" by default
    assert (await store.turn_state(KEY, 6)).device == state.device
    clock.advance(minutes=1)
    await store.save_turn(KEY, [], device=Device("Voltronic Power", "Voltronic Power", "ben"))
    assert await store.device(KEY) == Device("Voltronic Power", "Voltronic Power", "ben", clock.now)
    await store.save_turn(KEY, [], device="clear")
    assert await store.device(KEY) is None


async def test_each_thread_has_its_own_device(store: Store) -> None:
    await store.set_device(KEY, Device("A", "A"))
    await store.set_device(ChatKey("telegram", "g", "8"), Device("B", "B"))
    assert (await store.device(KEY) or Device("", "")).label == "A"
    assert (await store.device(ChatKey("telegram", "g", "8")) or Device("", "")).label == "B"
    assert await store.device(ChatKey("telegram", "g")) is None
    assert await store.clear_device(KEY) and not await store.clear_device(KEY)
    assert await store.device(ChatKey("telegram", "g", "8")) is not None


async def test_a_confirmation_holds_only_while_open_and_only_for_its_asker(store: Store, clock: ManualClock) -> None:
    await store.save_turn(KEY, [NewMessage("user", "hallo", user_id="anna")])
    assert await store.forget_user("telegram", "anna", KEY, confirm="forget") is None  # never asked
    await store.request_confirmation(KEY, "anna", "forget", timedelta(minutes=5))
    assert await store.forget_user("telegram", "ben", KEY, confirm="forget") is None  # not Ben's
    clock.advance(minutes=6)
    assert await store.forget_user("telegram", "anna", KEY, confirm="forget") is None  # expired
    assert len(await store.history(KEY, 10)) == 1
    await store.request_confirmation(KEY, "anna", "forget", timedelta(minutes=5))
    assert await store.cancel_confirmation(KEY, "anna", "forget")
    assert await store.forget_user("telegram", "anna", KEY, confirm="forget") is None
    await store.request_confirmation(KEY, "anna", "forget", timedelta(minutes=5))
    clock.advance(minutes=4)
    forgotten = await store.forget_user("telegram", "anna", KEY, confirm="forget")
    assert forgotten is not None and forgotten.rows["messages"] == 1 and forgotten.chats == (KEY,)
    assert await store.history(KEY, 10) == []


async def test_forget_in_a_chat_covers_all_its_threads_and_nothing_else(store: Store) -> None:
    other_thread, elsewhere = ChatKey("telegram", "g", "8"), ChatKey("telegram", "h")
    for key in (KEY, other_thread, elsewhere):
        await store.save_turn(key, [NewMessage("user", "von Anna", user_id="anna"), NewMessage("assistant", "Antwort")])
    await store.save_turn(other_thread, [NewMessage("user", "von Ben", user_id="ben")])
    await store.set_device(other_thread, Device("A", "A", "anna"))
    forgotten = await store.forget_user("telegram", "anna", KEY)
    assert forgotten is not None and forgotten.chats == (KEY,)  # thread 8 still has Ben's message
    assert forgotten.rows == {"messages": 4, "devices": 1, "chats": 1}
    assert [m.content for m in await store.history(other_thread, 10)] == ["von Ben"]
    assert [m.content for m in await store.history(elsewhere, 10)] == ["von Anna", "Antwort"]
    assert await store.device(other_thread) is None


async def test_take_confirmation_consumes_an_open_request_once(store: Store, clock: ManualClock) -> None:
    assert not await store.take_confirmation(KEY, "anna", "replace")  # never asked
    await store.request_confirmation(KEY, "anna", "replace", timedelta(minutes=5))
    assert not await store.take_confirmation(KEY, "ben", "replace")  # not Ben's
    assert not await store.take_confirmation(KEY, "anna", "remove")  # another action
    assert await store.take_confirmation(KEY, "anna", "replace")
    assert not await store.take_confirmation(KEY, "anna", "replace")  # taken
    await store.request_confirmation(KEY, "anna", "replace", timedelta(minutes=5))
    clock.advance(minutes=6)
    assert not await store.take_confirmation(KEY, "anna", "replace")  # expired
