"""The inbox: platform updates stored before they are acknowledged, answered once.

A webhook stores the update (``put``) and only then answers 2xx; a re-delivery of
the same update finds its row and is dropped. The process that stored it works on
it under a lease. When a process dies mid-turn its lease runs out and any process
(after a restart, or another replica) takes the row again (``take_expired``), with
a compare-and-set on the lease so that two processes never take the same row.

Several replicas share one database: a chat's updates run one at a time in arrival
(row id) order, whichever process holds them. A holder waits while an earlier
update of its chat is pending (``is_next``). A live process's heartbeat renews every
lease it holds at once (``renew_all``), so that neither a waiting update nor a turn
longer than the lease is taken for a dead one's. ``put`` already answers the
ordering question for the moment it stores the update (``Delivery.first_pending``),
in the same statement, so an update with nothing before it needs no second look.

An update is closed by the write of the turn that answers it (``Store.save_turn``
with the update's ``Receipt``), or by ``done`` when the turn stored nothing.

Works the same on SQLite and Postgres: plain ``INSERT … ON CONFLICT DO NOTHING``
and ``UPDATE … WHERE lease_until = <what I hold>``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import OneStatementWrite, dialect_insert, write_transaction
from storage.models import InboxItem
from storage.store import ChatKey, utc_now

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stored update, handed to the platform that knows its payload."""

    id: int
    key: ChatKey
    message_id: str
    payload: dict[str, Any]
    attempts: int  # how often a process has started on it, this time included
    lease_until: datetime | None = None  # the lease the holder wrote; its proof of holding
    first_pending: bool = False  # no earlier update of its chat was pending when it was stored


_INBOX = cast(Table, InboxItem.__table__)


def _put_statement(dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING id, <an earlier update of the chat is pending>``,
    built once: constructing it per update cost more than running it."""
    other = _INBOX.alias("other")  # the chat's other pending updates: all earlier (writes are serialised)
    pending_before = (
        select(other.c.id)
        .where(
            other.c.platform == bindparam("key_platform"),
            other.c.chat_id == bindparam("key_chat_id"),
            other.c.thread_key == bindparam("key_thread_key"),
            other.c.done_at.is_(None),
            other.c.message_id != bindparam("key_message_id"),
        )
        .exists()
    )
    return (
        dialect_insert(dialect, _INBOX)
        .on_conflict_do_nothing(index_elements=["platform", "chat_id", "thread_key", "message_id"])
        .returning(_INBOX.c.id, pending_before)
    )


_PUT_COLUMNS = (
    "platform",
    "chat_id",
    "thread_key",
    "message_id",
    "payload",
    "attempts",
    "created_at",
    "lease_until",
    "done_at",
)
_DONE = update(_INBOX).where(_INBOX.c.id == bindparam("row_id")).values(done_at=bindparam("now"))


class Inbox:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock
        self._put = OneStatementWrite(engine, _put_statement(self._dialect), _PUT_COLUMNS)

    async def put(self, key: ChatKey, message_id: str, payload: dict[str, Any], lease: timedelta) -> Delivery | None:
        """Store an update under a lease held by the caller; None when it was stored before.

        One statement: the ``INSERT`` also returns whether an earlier update of the chat
        is pending, so the acknowledgement holds the writer for nothing else; it goes
        ahead of the turns waiting to write (``urgent``), and on SQLite it is two round
        trips to the driver (:class:`~storage.db.OneStatementWrite`)."""
        now = self._clock()
        values = {
            "platform": key.platform,
            "chat_id": key.chat_id,
            "thread_key": key.thread_key,
            "message_id": message_id,
            "payload": json.dumps(payload, ensure_ascii=False),
            "attempts": 1,
            "created_at": now,
            "lease_until": now + lease,
            "done_at": None,
            "key_platform": key.platform,
            "key_chat_id": key.chat_id,
            "key_thread_key": key.thread_key,
            "key_message_id": message_id,
        }
        rows = await self._put.rows(values, urgent=True)  # the platform waits
        if not rows:
            return None
        ((row_id, waits),) = rows
        return Delivery(row_id, key, message_id, payload, 1, now + lease, first_pending=not waits)

    async def take_expired(self, lease: timedelta, platforms: Collection[str], limit: int = 50) -> list[Delivery]:
        """Pending updates of ``platforms`` whose lease ran out, now leased to the caller, oldest first."""
        now = self._clock()
        columns = (
            InboxItem.id,
            InboxItem.platform,
            InboxItem.chat_id,
            InboxItem.thread_key,
            InboxItem.message_id,
            InboxItem.payload,
            InboxItem.attempts,
            InboxItem.lease_until,
        )
        query = (
            select(*columns)
            .where(InboxItem.done_at.is_(None), InboxItem.lease_until < now, InboxItem.platform.in_(list(platforms)))
            .order_by(InboxItem.id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        taken = []
        for row_id, platform, chat_id, thread_key, message_id, payload, attempts, seen_lease in rows:
            claim = (
                update(InboxItem)
                .where(InboxItem.id == row_id, InboxItem.done_at.is_(None), InboxItem.lease_until == seen_lease)
                .values(lease_until=now + lease, attempts=attempts + 1)
            )
            async with self._write() as conn:
                if (await conn.execute(claim)).rowcount != 1:
                    continue  # another process took it first
            key = ChatKey(platform, chat_id, thread_key or None)
            taken.append(Delivery(row_id, key, message_id, json.loads(payload), attempts + 1, now + lease))
        return taken

    async def renew_all(self, deliveries: Collection[Delivery], lease: timedelta) -> dict[int, Delivery]:
        """Extend the leases of ``deliveries`` in one statement; the ones still held, by id,
        with their new lease (one missing from the result was taken by another process)."""
        held = [d for d in deliveries if d.lease_until is not None]
        if not held:
            return {}
        until = self._clock() + lease
        mine = or_(*(and_(InboxItem.id == d.id, InboxItem.lease_until == d.lease_until) for d in held))
        claim = (
            update(InboxItem)
            .where(mine, InboxItem.done_at.is_(None))
            .values(lease_until=until)
            .returning(InboxItem.id)
            .execution_options(synchronize_session=False)
        )
        async with self._write() as conn:
            kept = set((await conn.execute(claim)).scalars())
        return {d.id: replace(d, lease_until=until) for d in held if d.id in kept}

    async def is_next(self, delivery: Delivery) -> bool:
        """True when no earlier update of the delivery's chat is still pending, in any process."""
        key = delivery.key
        earlier = select(InboxItem.id).where(*_pending_in_chat(InboxItem, key), InboxItem.id < delivery.id).limit(1)
        async with self._engine.connect() as conn:
            return await conn.scalar(earlier) is None

    async def done(self, delivery_id: int) -> None:
        async with write_transaction(self._engine, immediate=False) as conn:  # one statement, nothing read first
            await conn.execute(_DONE, {"row_id": delivery_id, "now": self._clock()})

    async def pending(self) -> int:
        """How many stored updates are not answered yet (for /readyz and metrics)."""
        async with self._engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(InboxItem).where(InboxItem.done_at.is_(None)))
        return int(count or 0)

    async def prune(self, before: datetime) -> int:
        """Forget answered updates older than ``before`` (platforms stop re-delivering after a day)."""
        async with self._write() as conn:
            result = await conn.execute(
                delete(InboxItem).where(InboxItem.done_at.is_not(None), InboxItem.created_at < before)
            )
        return result.rowcount

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with write_transaction(self._engine) as conn:
            yield conn


def _pending_in_chat(item: Any, key: ChatKey) -> tuple[ColumnElement[bool], ...]:
    """The pending (not yet answered) updates of ``key``'s chat, in ``item`` (the table or an alias)."""
    return (
        item.platform == key.platform,
        item.chat_id == key.chat_id,
        item.thread_key == key.thread_key,
        item.done_at.is_(None),
    )
