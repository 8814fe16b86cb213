"""The chat-state store on real SQLite files: order, windows, pauses, votes, isolation, concurrency."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from helpers import votes
from storage.models import InboxItem, Message, PlatformReference, User
from storage.models import Pause as PauseRow
from storage.store import ChatKey, Citation, NewMessage, Pause, Receipt, Role, Store, StoredMessage, Summary
from storage_helpers import T0, ManualClock

A = ChatKey("telegram", "100")
A_TOPIC = ChatKey("telegram", "100", "7")  # a forum topic of the same chat
A_TEAMS = ChatKey("teams", "100")  # the same id on the other platform
B = ChatKey("telegram", "200")


async def _fill(store: Store, key: ChatKey, count: int, prefix: str = "m") -> list[StoredMessage]:
    roles: tuple[Role, Role] = ("user", "assistant")
    return [await store.append_message(key, roles[i % 2], f"{prefix}{i + 1}") for i in range(count)]


def _positions(messages: list[StoredMessage] | tuple[StoredMessage, ...]) -> list[int]:
    return [m.position for m in messages]


def _pause(expires_at: datetime, **changes: object) -> Pause:
    fields: dict[str, object] = {
        "user_id": "u1",
        "question": "Welches Gerät meinen Sie?",
        "options": ("Wärmepumpe WPL 25", "Durchlauferhitzer DHB"),
        "state": {"query": "Fehler E5 an der Wärmepumpe", "step": 2, "seen": ["ä", "ß"], "nested": {"ö": None}},
        "asked_message_id": "555",
        "created_at": T0,
        "expires_at": expires_at,
    }
    fields.update(changes)
    return Pause(**fields)  # type: ignore[arg-type]


def test_storage_imports_neither_bot_nor_a_platform_library() -> None:
    probe = (
        "import sys, storage.store, storage.migrations, storage.db; "
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('bot', 'adapters', 'telegram', 'botbuilder')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == ""


# -- chat keys -----------------------------------------------------------------------


def test_a_chat_key_needs_platform_and_chat_id() -> None:
    with pytest.raises(ValueError):
        ChatKey("", "1")
    with pytest.raises(ValueError):
        ChatKey("telegram", "")
    assert ChatKey("telegram", "1", "").thread_key == ChatKey("telegram", "1").thread_key == ""


# -- a turn: one read, one write ------------------------------------------------------


async def test_a_new_chat_reads_as_empty(store: Store) -> None:
    state = await store.turn_state(A, 6)
    assert (state.pause, state.history, state.summary) == (None, (), None)


async def test_the_turn_state_holds_the_window_the_summary_and_the_pause_even_expired(
    store: Store, clock: ManualClock
) -> None:
    await _fill(store, A, 5)
    await store.set_summary(A, "bisher", 2)
    expired = _pause(T0 - timedelta(minutes=1))
    await store.save_pause(A, expired)
    state = await store.turn_state(A, 3)
    assert [m.content for m in state.history] == ["m3", "m4", "m5"]
    assert state.summary == Summary("bisher", 2)
    assert state.pause == expired  # the caller decides what an expired pause means
    assert (await store.turn_state(A, 3)).pause == expired  # and nothing was deleted on the way
    await store.new_conversation(A)
    assert await store.turn_state(A, 3) == type(state)(None, (), None)


async def test_a_turn_is_stored_in_one_write_that_closes_its_inbox_row(store: Store, clock: ManualClock) -> None:
    inbox_id = await _inbox_row(store, "m1")
    receipt = Receipt(inbox_id)
    asked = NewMessage("user", "Was heißt E5?", user_id="u1", user_name="Jürgen", platform_message_id="m1")
    answer = NewMessage("assistant", "Drucksensor", citations=(Citation("h.pdf", "Handbuch", 7),))
    pause = _pause(T0 + timedelta(hours=1))
    stored = await store.save_turn(A, [asked, answer], pause=pause, receipt=receipt)
    assert _positions(stored) == [1, 2] and receipt.closed.is_set()
    state = await store.turn_state(A, 10)
    assert state.history == tuple(stored) and state.pause == pause
    async with store.engine.connect() as conn:
        done = await conn.scalar(select(InboxItem.done_at).where(InboxItem.id == inbox_id))
        name = await conn.scalar(select(User.name).where(User.user_id == "u1"))
    assert done == clock.now and name == "Jürgen"

    kept = await store.save_turn(A, [NewMessage("user", "noch was")])  # "keep": the pause stays
    assert _positions(kept) == [3] and (await store.turn_state(A, 10)).pause == pause
    await store.save_turn(A, [NewMessage("user", "1"), NewMessage("assistant", "ok")], pause="clear")
    after = await store.turn_state(A, 10)
    assert after.pause is None and _positions(after.history) == [1, 2, 3, 4, 5]


async def test_a_refused_turn_stores_nothing(store: Store) -> None:
    receipt = Receipt(await _inbox_row(store, "m1"))
    with pytest.raises(ValueError):
        await store.save_turn(A, [NewMessage("user", "x"), NewMessage("robot", "y")], receipt=receipt)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await store.save_turn(A, [NewMessage("user", "x")], pause=_pause(datetime(2030, 1, 1)), receipt=receipt)
    assert await store.history(A, 10) == [] and not receipt.closed.is_set()


async def _inbox_row(store: Store, message_id: str) -> int:
    async with store.engine.begin() as conn:
        values = {"platform": A.platform, "chat_id": A.chat_id, "thread_key": "", "message_id": message_id}
        stamps = {"payload": "{}", "attempts": 1, "created_at": T0, "lease_until": T0}
        return int(
            (await conn.execute(InboxItem.__table__.insert().values(**values, **stamps))).inserted_primary_key[0]
        )


# -- history ---------------------------------------------------------------------------


async def test_messages_get_consecutive_positions_and_come_back_oldest_first(store: Store) -> None:
    stored = await _fill(store, A, 5)
    assert _positions(stored) == [1, 2, 3, 4, 5]
    history = await store.history(A, 10)
    assert history == stored
    assert [m.content for m in history] == ["m1", "m2", "m3", "m4", "m5"]
    assert [m.role for m in history] == ["user", "assistant", "user", "assistant", "user"]


async def test_order_never_depends_on_timestamps(store: Store, clock: ManualClock) -> None:
    await _fill(store, A, 3)  # all three share one timestamp
    clock.advance(hours=-5)  # a clock stepping backwards
    await store.append_message(A, "assistant", "later, but stamped earlier")
    history = await store.history(A, 10)
    assert _positions(history) == [1, 2, 3, 4]
    assert history[-1].content == "later, but stamped earlier"
    assert len({m.created_at for m in history[:3]}) == 1


async def test_timestamps_are_aware_utc(store: Store, clock: ManualClock) -> None:
    clock.now = datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))  # Berlin summer time
    await store.append_message(A, "user", "x")
    [message] = await store.history(A, 1)
    assert message.created_at == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert message.created_at.tzinfo is UTC


async def test_history_is_the_last_window(store: Store) -> None:
    await _fill(store, A, 8)
    assert _positions(await store.history(A, 3)) == [6, 7, 8]
    assert _positions(await store.history(A, 1)) == [8]
    assert await store.history(A, 0) == []
    assert await store.history(B, 5) == []  # never written to


async def test_message_fields_round_trip_with_umlauts(store: Store) -> None:
    cites = (Citation("Wärmepumpe_WPL.pdf", "Bedienungsanleitung Größe XL", 12), Citation("b.pdf", "Übersicht", 3))
    sent = await store.append_message(
        A,
        "assistant",
        "Prüfen Sie den Drucksensor (siehe Seite 12) – Grüße!",
        user_id="u1",
        citations=cites,
        image_refs=("bilder/schaltplan-ä.png", "x.jpg"),
        platform_message_id="9001",
    )
    [got] = await store.history(A, 1)
    assert got == sent
    assert got.citations == cites
    assert got.image_refs == ("bilder/schaltplan-ä.png", "x.jpg")
    assert (got.user_id, got.platform_message_id) == ("u1", "9001")
    async with store.engine.connect() as conn:
        raw = await conn.scalar(select(Message.citations))
    assert raw is not None and "Größe" in raw  # readable JSON, not \u escapes


async def test_an_unknown_role_is_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.append_message(A, "robot", "x")  # type: ignore[arg-type]


async def test_users_are_remembered_by_platform(store: Store, clock: ManualClock) -> None:
    await store.append_message(A, "user", "a", user_id="u1", user_name="Jürgen")
    clock.advance(minutes=5)
    await store.append_message(B, "user", "b", user_id="u1")  # no name this time: the old one stays
    await store.append_message(A_TEAMS, "user", "c", user_id="u1", user_name="Jürgen M.")
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(User.platform, User.name, User.first_seen, User.last_seen))).all()
    by_platform = {row.platform: row for row in rows}
    assert by_platform["telegram"].name == "Jürgen"
    assert (by_platform["telegram"].first_seen, by_platform["telegram"].last_seen) == (T0, clock.now)
    assert by_platform["teams"].name == "Jürgen M."


async def test_history_survives_a_restart(db_url: str, clock: ManualClock) -> None:
    store = await Store.open(db_url, clock=clock)
    await _fill(store, A, 3)
    await store.close()
    store = await Store.open(db_url, clock=clock)
    assert (await store.append_message(A, "user", "after restart")).position == 4
    assert [m.content for m in await store.history(A, 10)] == ["m1", "m2", "m3", "after restart"]
    await store.close()


# -- concurrency -------------------------------------------------------------------------


async def test_concurrent_appends_get_unique_gap_free_positions(store: Store) -> None:
    stored = await asyncio.gather(*(store.append_message(A, "user", f"n{i}", user_id=f"u{i % 3}") for i in range(50)))
    assert sorted(_positions(list(stored))) == list(range(1, 51))
    history = await store.history(A, 100)
    assert _positions(history) == list(range(1, 51))
    assert {m.content for m in history} == {f"n{i}" for i in range(50)}
    assert {m.position: m.content for m in history} == {m.position: m.content for m in stored}


async def test_two_processes_append_to_one_chat(store: Store, db_url: str) -> None:
    second = await Store.open(db_url)
    try:
        stored = await asyncio.gather(
            *(s.append_message(A, "user", f"{name}{i}") for i in range(25) for name, s in (("a", store), ("b", second)))
        )
    finally:
        await second.close()
    assert sorted(_positions(list(stored))) == list(range(1, 51))
    assert _positions(await store.history(A, 100)) == list(range(1, 51))


# -- conversations and summaries ------------------------------------------------------


async def test_new_conversation_keeps_history_but_starts_afresh(store: Store, clock: ManualClock) -> None:
    await _fill(store, A, 4)
    await store.set_summary(A, "Es ging um die Wärmepumpe.", 2)
    await store.save_pause(A, _pause(T0 + timedelta(hours=1)))

    await store.new_conversation(A)

    assert await store.history(A, 10) == []
    assert await store.unsummarized(A, 0) == []
    assert await store.summary(A) is None
    assert await store.pause(A) is None
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(func.count(Message.id))) == 4  # nothing deleted
    fresh = await store.append_message(A, "user", "Neue Frage")
    assert fresh.position == 5  # positions go on across conversations
    assert [m.content for m in await store.history(A, 10)] == ["Neue Frage"]


async def test_new_conversation_on_an_unknown_chat_is_harmless(store: Store) -> None:
    await store.new_conversation(B)
    assert await store.history(B, 5) == []


async def test_unsummarized_and_summary_flow(store: Store) -> None:
    await _fill(store, A, 10)
    assert await store.summary(A) is None
    assert _positions(await store.unsummarized(A, 4)) == [1, 2, 3, 4, 5, 6]  # 7..10 stay in the window
    assert await store.unsummarized(A, 10) == []
    assert await store.unsummarized(A, 20) == []

    assert await store.set_summary(A, "Zusammenfassung: Fehler E5, Drucksensor geprüft.", 6) is True
    assert await store.summary(A) == Summary("Zusammenfassung: Fehler E5, Drucksensor geprüft.", 6)
    assert await store.unsummarized(A, 4) == []

    await _fill(store, A, 3, prefix="x")  # positions 11..13; the window is now 10..13
    assert _positions(await store.unsummarized(A, 4)) == [7, 8, 9]
    assert _positions(await store.unsummarized(A, 0)) == list(range(7, 14))

    assert await store.set_summary(A, "Neu", 9) is True  # replaces
    assert await store.summary(A) == Summary("Neu", 9)
    assert await store.unsummarized(A, 4) == []


async def test_a_summary_of_the_previous_conversation_is_not_stored(store: Store) -> None:
    await _fill(store, A, 6)
    await store.new_conversation(A)  # /new while the summariser was still running
    assert await store.set_summary(A, "about the old conversation", 4) is False
    assert await store.summary(A) is None
    assert await store.set_summary(B, "no such chat", 1) is False


# -- pauses ----------------------------------------------------------------------------


async def test_a_pause_is_saved_and_resumed(store: Store) -> None:
    pause = _pause(T0 + timedelta(minutes=30))
    await store.save_pause(A, pause)
    assert await store.pause(A) == pause
    assert await store.pause(A, now=T0 + timedelta(minutes=29)) == pause

    replacement = _pause(T0 + timedelta(hours=2), question="Welche Fehlernummer?", options=())
    await store.save_pause(A, replacement)
    assert await store.pause(A) == replacement


async def test_an_expired_pause_is_gone(store: Store) -> None:
    await store.save_pause(A, _pause(T0 + timedelta(minutes=30)))
    assert await store.pause(A, now=T0 + timedelta(minutes=30)) is None
    assert await store.pause(A, now=T0) is None  # deleted, not just hidden
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(PauseRow)) == 0


async def test_a_pause_is_cleared(store: Store) -> None:
    await store.save_pause(A, _pause(T0 + timedelta(minutes=30)))
    assert await store.clear_pause(A) is True
    assert await store.clear_pause(A) is False
    assert await store.pause(A) is None
    assert await store.clear_pause(B) is False


async def test_a_pause_survives_a_restart(db_url: str, clock: ManualClock) -> None:
    pause = _pause(T0 + timedelta(minutes=30))
    store = await Store.open(db_url, clock=clock)
    await store.save_pause(A_TOPIC, pause)
    await store.close()

    store = await Store.open(db_url, clock=clock)
    try:
        resumed = await store.pause(A_TOPIC)
        assert resumed == pause
        assert resumed is not None and resumed.state["nested"] == {"ö": None}
        assert resumed.expires_at.tzinfo is UTC
    finally:
        await store.close()


async def test_naive_datetimes_are_refused(store: Store) -> None:
    naive = datetime(2025, 1, 1, 12, 0)
    with pytest.raises(ValueError):
        await store.save_pause(A, _pause(naive))
    with pytest.raises(ValueError):
        await store.pause(A, now=naive)
    with pytest.raises(ValueError):
        await store.counts(naive)


# -- feedback --------------------------------------------------------------------------


async def test_a_second_vote_replaces_the_first(store: Store) -> None:
    await _fill(store, A, 4)
    await store.add_feedback(A, 2, "u1", +1)
    assert await votes(store.engine, A) == {2: 1}
    await store.add_feedback(A, 2, "u1", -1)  # changed their mind
    assert await votes(store.engine, A) == {2: -1}
    await store.add_feedback(A, 2, "u2", +1)
    await store.add_feedback(A, 2, "u3", +1)
    await store.add_feedback(A, 4, "u1", -1)
    assert await votes(store.engine, A) == {2: 1, 4: -1}


@pytest.mark.parametrize("value", [0, 2, -2, True])
async def test_a_vote_is_plus_or_minus_one(store: Store, value: int) -> None:
    with pytest.raises(ValueError):
        await store.add_feedback(A, 1, "u1", value)
    assert await votes(store.engine, A) == {}


# -- platform references ---------------------------------------------------------------


async def test_a_reference_round_trips(store: Store) -> None:
    assert await store.reference(A_TEAMS) is None
    data = {
        "conversation": {"id": "19:abc@thread.tacv2", "name": "Kundendienst Süd"},
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "user": {"name": "Jörg Müller"},
    }
    await store.save_reference(A_TEAMS, data)
    assert await store.reference(A_TEAMS) == data
    await store.save_reference(A_TEAMS, {"replaced": True})
    assert await store.reference(A_TEAMS) == {"replaced": True}
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(PlatformReference)) == 1


# -- statistics ------------------------------------------------------------------------


async def test_counts_turns_chats_and_users_since(store: Store, clock: ManualClock) -> None:
    await store.append_message(A, "user", "alt", user_id="u1")
    clock.advance(days=1)
    since = clock.now
    await store.append_message(A, "user", "1", user_id="u1")
    await store.append_message(A, "assistant", "answer")
    await store.append_message(A, "user", "2", user_id="u2")
    await store.append_message(B, "user", "3", user_id="u1")
    await store.append_message(A_TOPIC, "user", "4")
    assert await store.counts(since) == {"turns": 4, "chats": 3, "users": 2}
    assert await store.counts(T0) == {"turns": 5, "chats": 3, "users": 2}
    assert await store.counts(clock.now + timedelta(seconds=1)) == {"turns": 0, "chats": 0, "users": 0}


# -- isolation ---------------------------------------------------------------------------


async def test_chats_never_see_each_other(store: Store) -> None:
    await _fill(store, A, 6, prefix="a")
    await store.set_summary(A, "only A", 3)
    await store.save_pause(A, _pause(T0 + timedelta(hours=1)))
    await store.add_feedback(A, 2, "u1", +1)
    await store.save_reference(A, {"chat": "A"})

    for other in (B, A_TOPIC, A_TEAMS):
        assert await store.history(other, 10) == []
        assert await store.unsummarized(other, 0) == []
        assert await store.summary(other) is None
        assert await store.pause(other) is None
        assert await votes(store.engine, other) == {}
        assert await store.reference(other) is None
        assert await store.clear_pause(other) is False

    # Writing to the others leaves A alone.
    await _fill(store, A_TOPIC, 2, prefix="t")
    assert _positions(await store.history(A_TOPIC, 10)) == [1, 2]  # its own positions
    for other in (B, A_TOPIC, A_TEAMS):
        await store.new_conversation(other)
    assert [m.content for m in await store.history(A, 10)] == [f"a{i}" for i in range(1, 7)]
    assert await store.summary(A) == Summary("only A", 3)
    assert await store.pause(A) is not None
    assert await votes(store.engine, A) == {2: 1}
    assert await store.reference(A) == {"chat": "A"}
