"""Support cases: durable hand-offs from a technician's chat to the support team's chat.

A case belongs to one technician (platform, chat, thread, user id) and is posted to
one support chat; every message Nik writes there for the case is a *post*, and a
reply to any post answers that case. Case numbers come from one counter row
(``UPDATE … RETURNING`` under the write lock), so they are unique per deployment and
never reused, also after a case was deleted. Lookups always name the support chat a
post lives in, so a message id of another chat never finds a case.

A write that answers an inbox row closes it in the same transaction (``Receipt``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, cast

from sqlalchemy import Row, Select, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import dialect_insert, write_transaction
from storage.models import InboxItem, SupportCase, SupportCounter, SupportPost
from storage.store import ChatKey, Clock, Receipt, utc_now

CaseStatus = Literal["open", "closed", "failed"]
ClosedBy = Literal["technician", "support"]


@dataclass(frozen=True, slots=True)
class Case:
    number: int
    chat: ChatKey  # the technician's chat
    user_id: str
    user_name: str
    words: str
    status: CaseStatus
    support: ChatKey  # the support chat it was posted to (no thread)
    support_message_id: str | None  # the case message there, once posted
    opened_at: datetime
    closed_at: datetime | None = None
    closed_by: ClosedBy | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"


_COLUMNS = (
    SupportCase.number,
    SupportCase.platform,
    SupportCase.chat_id,
    SupportCase.thread_key,
    SupportCase.user_id,
    SupportCase.user_name,
    SupportCase.words,
    SupportCase.status,
    SupportCase.support_platform,
    SupportCase.support_chat_id,
    SupportCase.support_message_id,
    SupportCase.opened_at,
    SupportCase.closed_at,
    SupportCase.closed_by,
)


class Cases:
    """The support cases over the store's engine."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock

    async def open(self, chat: ChatKey, user_id: str, user_name: str, words: str, support: ChatKey) -> Case:
        """A new open case with the next number (not posted yet: ``posted`` records that)."""
        now = self._clock()
        take_number = (
            dialect_insert(self._dialect, SupportCounter)
            .values(id=1, next_number=2)
            .on_conflict_do_update(index_elements=["id"], set_={"next_number": SupportCounter.next_number + 1})
            .returning(SupportCounter.next_number)
        )
        async with write_transaction(self._engine) as conn:
            number = int((await conn.execute(take_number)).scalar_one()) - 1
            await conn.execute(
                insert(SupportCase).values(
                    number=number,
                    platform=chat.platform,
                    chat_id=chat.chat_id,
                    thread_key=chat.thread_key,
                    user_id=user_id,
                    user_name=user_name,
                    words=words,
                    status="open",
                    support_platform=support.platform,
                    support_chat_id=support.chat_id,
                    opened_at=now,
                )
            )
        return Case(number, chat, user_id, user_name, words, "open", support, None, now)

    async def posted(self, number: int, message_id: str, *, root: bool = False, receipt: Receipt | None = None) -> None:
        """Nik's message ``message_id`` in the case's support chat belongs to case ``number``
        (``root``: it is the case message itself)."""
        async with write_transaction(self._engine) as conn:
            row = (
                await conn.execute(
                    select(SupportCase.id, SupportCase.support_platform, SupportCase.support_chat_id).where(
                        SupportCase.number == number
                    )
                )
            ).one_or_none()
            if row is not None:
                if root:
                    await conn.execute(
                        update(SupportCase).where(SupportCase.id == row.id).values(support_message_id=message_id)
                    )
                await conn.execute(
                    dialect_insert(self._dialect, SupportPost)
                    .values(
                        case_row_id=row.id,
                        support_platform=row.support_platform,
                        support_chat_id=row.support_chat_id,
                        support_message_id=message_id,
                        created_at=self._clock(),
                    )
                    .on_conflict_do_nothing()
                )
            await _close_receipt(conn, receipt, self._clock())
        _closed(receipt)

    async def close(
        self, number: int, by: ClosedBy, *, status: CaseStatus = "closed", receipt: Receipt | None = None
    ) -> bool:
        """Close an open case; False when it was not open (any more)."""
        now = self._clock()
        async with write_transaction(self._engine) as conn:
            result = await conn.execute(
                update(SupportCase)
                .where(SupportCase.number == number, SupportCase.status == "open")
                .values(status=status, closed_at=now, closed_by=by)
            )
            await _close_receipt(conn, receipt, now)
        _closed(receipt)
        return bool(result.rowcount)

    async def open_case_of(self, chat: ChatKey, user_id: str) -> Case | None:
        """The technician's open case in this chat, if any (the newest)."""
        stmt = (
            select(*_COLUMNS)
            .where(
                SupportCase.platform == chat.platform,
                SupportCase.chat_id == chat.chat_id,
                SupportCase.thread_key == chat.thread_key,
                SupportCase.user_id == user_id,
                SupportCase.status == "open",
            )
            .order_by(SupportCase.number.desc())
            .limit(1)
        )
        return await self._one(stmt)

    async def by_post(self, support: ChatKey, message_ids: Sequence[str]) -> Case | None:
        """The case one of ``message_ids`` (a post of Nik's in the support chat ``support``) belongs to."""
        wanted = [m for m in message_ids if m]
        if not wanted:
            return None
        stmt = (
            select(*_COLUMNS)
            .join(SupportPost, SupportPost.case_row_id == SupportCase.id)
            .where(
                SupportPost.support_platform == support.platform,
                SupportPost.support_chat_id == support.chat_id,
                SupportPost.support_message_id.in_(wanted),
            )
            .order_by(SupportCase.number.desc())
            .limit(1)
        )
        return await self._one(stmt)

    async def by_number(self, number: int) -> Case | None:
        return await self._one(select(*_COLUMNS).where(SupportCase.number == number))

    async def open_cases(self, support: ChatKey, limit: int = 50) -> list[Case]:
        """The open cases posted to ``support``, oldest first."""
        stmt = (
            select(*_COLUMNS)
            .where(
                SupportCase.support_platform == support.platform,
                SupportCase.support_chat_id == support.chat_id,
                SupportCase.status == "open",
            )
            .order_by(SupportCase.number)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_case(row) for row in rows]

    async def opened_per_day(self, since: datetime) -> dict[date, int]:
        """Cases opened (posted or not) per UTC day since ``since``: for reports ("handed to support")."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(SupportCase.opened_at).where(SupportCase.opened_at >= since))).scalars()
            days: dict[date, int] = {}
            for opened in rows:
                days[opened.date()] = days.get(opened.date(), 0) + 1
        return dict(sorted(days.items()))

    async def forget(self, chat: ChatKey, user_id: str) -> int:
        """Delete a user's cases in a chat (their posts go with them); how many."""
        async with write_transaction(self._engine) as conn:
            result = await conn.execute(
                delete(SupportCase).where(
                    SupportCase.platform == chat.platform,
                    SupportCase.chat_id == chat.chat_id,
                    SupportCase.thread_key == chat.thread_key,
                    SupportCase.user_id == user_id,
                )
            )
        return int(result.rowcount)

    async def _one(self, stmt: Select[*tuple[Any, ...]]) -> Case | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).one_or_none()
        return None if row is None else _case(row)


async def _close_receipt(conn: AsyncConnection, receipt: Receipt | None, now: datetime) -> None:
    if receipt is not None:
        await conn.execute(
            update(InboxItem).where(InboxItem.id == receipt.inbox_id, InboxItem.done_at.is_(None)).values(done_at=now)
        )


def _closed(receipt: Receipt | None) -> None:
    if receipt is not None:
        receipt.closed.set()


def _case(row: Row[*tuple[Any, ...]]) -> Case:
    m = row._mapping
    return Case(
        number=int(m["number"]),
        chat=ChatKey(str(m["platform"]), str(m["chat_id"]), str(m["thread_key"]) or None),
        user_id=str(m["user_id"]),
        user_name=str(m["user_name"]),
        words=str(m["words"]),
        status=cast(CaseStatus, m["status"]),
        support=ChatKey(str(m["support_platform"]), str(m["support_chat_id"])),
        support_message_id=cast(str | None, m["support_message_id"]),
        opened_at=cast(datetime, m["opened_at"]),
        closed_at=cast(datetime | None, m["closed_at"]),
        closed_by=cast(ClosedBy | None, m["closed_by"]),
    )
