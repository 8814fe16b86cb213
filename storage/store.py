"""Each chat's durable state: history, summary, pending question, feedback, platform reference.

Everything is keyed by :class:`ChatKey` (platform, chat id, optional thread) and
every query filters by that chat's row, so chats never see each other's state.
Plain frozen dataclasses cross the boundary; rows and sessions stay in here.

* A question turn is one read and one write: :meth:`Store.turn_state` reads the
  pending question, the history window and the summary in one transaction (two
  statements); :meth:`Store.save_turn` stores the turn's messages, the change of the
  pending question and marks the turn's inbox row done (its :class:`Receipt`) in one
  transaction. Both are units of work (:func:`storage.db.run_unit`): on SQLite their
  compiled statements run on the driver, one round trip each.
  Everything a write needs is computed before it begins, so the one SQLite writer
  is held for a few statements only.
* Positions order a chat's messages (1, 2, 3, … without gaps, never timestamps):
  ``save_turn`` takes the next ones with one ``INSERT INTO chats … ON CONFLICT DO
  UPDATE SET next_position = next_position + n RETURNING`` (the chat row is made on
  first use) in the transaction that inserts the messages.
* A *conversation* is what the bot remembers: /new (``new_conversation``) keeps the
  history but starts the window, the summary and the pending question afresh.
* Writes on SQLite begin with ``BEGIN IMMEDIATE`` (:func:`storage.db.begin_write`):
  concurrent writers — tasks or processes — queue on ``busy_timeout``. ``save_turn``'s first
  statement is already a write (the positions), so it takes the lock there and needs no ``BEGIN``.
* A chat's *device* (``/device``) is read with the turn's state and changed by its write.
* ``forget_user`` deletes one user's rows (``storage.forget`` has the rules) in one
  write; ``/forget`` asks first and the asking is stored (``request_confirmation``).
* Timestamps are timezone-aware UTC; a naive datetime is refused with ``ValueError``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeAlias, cast

from sqlalchemy import ColumnElement, Row, and_, delete, distinct, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import forget
from storage.db import Unit, create_engine, dialect_insert, run_unit, write_transaction
from storage.migrations import migrate
from storage.models import (
    ROLES,
    Chat,
    Confirmation,
    Feedback,
    Message,
    PlatformReference,
)
from storage.models import Device as DeviceRow
from storage.models import Pause as PauseRow
from storage.models import Summary as SummaryRow
from storage.statements import DEVICE_COLUMNS as _DEVICE_COLUMNS
from storage.statements import MESSAGE_COLUMNS as _MESSAGE_COLUMNS
from storage.statements import turn_statements

Role = Literal["user", "assistant", "system", "tool"]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ChatKey:
    platform: str  # "telegram" | "teams"
    chat_id: str
    thread_id: str | None = None  # forum topic / Teams reply chain; '' counts as none

    def __post_init__(self) -> None:
        if not self.platform or not self.chat_id:
            raise ValueError(f"a chat key needs a platform and a chat id: {self!r}")

    @property
    def thread_key(self) -> str:
        return self.thread_id or ""


@dataclass(frozen=True, slots=True)
class Citation:
    file: str
    title: str
    page: int


@dataclass(frozen=True, slots=True)
class StoredMessage:
    position: int
    role: Role
    content: str
    citations: tuple[Citation, ...]
    image_refs: tuple[str, ...]
    user_id: str | None
    platform_message_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Summary:
    text: str
    covered_position: int  # the highest position folded into the text


@dataclass(frozen=True, slots=True)
class Pause:
    """A question the bot asked; ``state`` (JSON-able, opaque here) resumes the turn."""

    user_id: str  # the asker: only their answer resumes
    question: str
    options: tuple[str, ...]
    state: dict[str, Any]
    asked_message_id: str | None
    created_at: datetime
    expires_at: datetime


PauseChange: TypeAlias = Pause | Literal["keep", "clear"]  # what a turn does to the pending question


@dataclass(frozen=True, slots=True)
class Device:
    """The device a chat is about: ``label`` is shown, ``scope`` narrows the search."""

    label: str
    scope: str
    user_id: str | None = None  # who set it
    set_at: datetime | None = None  # set when stored


DeviceChange: TypeAlias = Device | Literal["keep", "clear"]  # what a turn does to the chat's device


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What ``forget_user`` deleted: rows per table, the photos to delete, the chats that went."""

    rows: dict[str, int]
    image_refs: tuple[str, ...]
    chats: tuple[ChatKey, ...]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store; its position is given when it is stored."""

    role: Role
    content: str
    user_id: str | None = None
    user_name: str | None = None  # remembered for ``user_id`` (None keeps the known name)
    citations: tuple[Citation, ...] = ()
    image_refs: tuple[str, ...] = ()
    platform_message_id: str | None = None
    kind: str | None = None  # an assistant message: the turn's kind ("answer", "not_found", "clarification", …)


@dataclass(frozen=True, slots=True)
class TurnState:
    """What a turn reads before it answers, in one transaction."""

    pause: Pause | None  # expired ones too: the caller decides, nothing is deleted on the way
    history: tuple[StoredMessage, ...]  # the last ``window`` messages of the current conversation, oldest first
    summary: Summary | None
    device: Device | None = None  # the chat's device (``/device``), if one is set


@dataclass(frozen=True, slots=True)
class Receipt:
    """The inbox row a turn answers. The turn's write marks the row done (:meth:`Store.save_turn`)
    and then sets ``closed``, so whoever handed the row out does not close it again."""

    inbox_id: int
    closed: asyncio.Event = field(default_factory=asyncio.Event, compare=False, repr=False)


# position, role, content, citations, image_refs, user_id, platform_message_id, created_at
_MessageRow: TypeAlias = Row[int, str, str, str, str, str | None, str | None, datetime]


class Store:
    """The chat-state store over one async engine. Open with :meth:`open`, end with :meth:`close`."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock
        self._turn = turn_statements(engine)

    @classmethod
    async def open(cls, url: str, *, clock: Clock = utc_now) -> Store:
        """Connect to ``url`` and migrate the schema (may raise ``StorageError``)."""
        engine = create_engine(url)
        async with AsyncExitStack() as on_failure:
            on_failure.push_async_callback(engine.dispose)
            await migrate(engine)
            on_failure.pop_all()
        return cls(engine, clock=clock)

    async def close(self) -> None:
        await self._engine.dispose()

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    # -- history -------------------------------------------------------------------

    async def turn_state(self, key: ChatKey, window: int) -> TurnState:
        """The pending question, the last ``window`` messages and the summary of the current
        conversation, read in one transaction (two statements)."""
        sql = self._turn
        where = {"key_platform": key.platform, "key_chat_id": key.chat_id, "key_thread_key": key.thread_key}

        def read(unit: Unit) -> tuple[Any, list[Any]]:
            rows = unit.rows(sql.chat_state, where)
            if not rows:
                return None, []
            [row] = rows
            current = {"chat_row_id": row.id, "conversation": row.conversation, "window": max(window, 0)}
            return row, unit.rows(sql.window, current)

        row, messages = await run_unit(self._engine, read, write=False)
        if row is None:
            return TurnState(None, (), None)
        summary = None if row.text is None else Summary(row.text, row.covered_position)
        pause = None if row.user_id is None else _pause(row)
        device = None if row.device_label is None else _device(row)
        return TurnState(pause, tuple(_stored(m) for m in reversed(messages)), summary, device)

    async def save_turn(
        self,
        key: ChatKey,
        messages: Sequence[NewMessage],
        *,
        pause: PauseChange = "keep",
        receipt: Receipt | None = None,
        device: DeviceChange = "keep",
    ) -> list[StoredMessage]:
        """Store ``messages`` at the chat's next positions, apply ``pause`` (a new pending
        question replaces the old one; "clear" drops it), apply ``device`` likewise and mark
        ``receipt``'s inbox row done — all in one transaction. The chat row is made on first use."""
        for message in messages:
            if message.role not in ROLES:
                raise ValueError(f"unknown role {message.role!r}; expected one of {', '.join(ROLES)}")
        now = self._clock()
        count = len(messages)
        sql = self._turn
        chat_row = {
            "platform": key.platform,
            "chat_id": key.chat_id,
            "thread_id": key.thread_id or None,
            "thread_key": key.thread_key,
            "conversation": 1,
            "next_position": 1 + count,
            "created_at": now,
            "count": count,
        }
        rows = [
            {
                "role": m.role,
                "content": m.content,
                "citations": _citations_json(m.citations),
                "image_refs": _dumps(list(m.image_refs)),
                "user_id": m.user_id,
                "platform_message_id": m.platform_message_id,
                "kind": m.kind,
                "created_at": now,
            }
            for m in messages
        ]
        users = {m.user_id: m.user_name for m in messages if m.user_id is not None}
        user_rows = [
            {"platform": key.platform, "user_id": user_id, "name": name, "first_seen": now, "last_seen": now}
            for user_id, name in users.items()
        ]
        pause_values = None if isinstance(pause, str) else _pause_values(pause)
        device_values = None if isinstance(device, str) else _device_values(device, now)

        def write(unit: Unit) -> int:  # the chat row's first position for these messages
            [chat] = unit.rows(sql.take_positions, chat_row)  # a write first: SQLite's lock is taken here
            first: int = chat.next_position - count
            for user_row in user_rows:
                unit.rows(sql.touch_user, user_row)
            if rows:
                placed = [
                    {**row, "chat_row_id": chat.id, "conversation": chat.conversation, "position": first + n}
                    for n, row in enumerate(rows)
                ]
                unit.many(sql.insert_messages, placed)
            if pause == "clear":
                unit.rows(sql.clear_pause, {"chat_row_id": chat.id})
            elif pause_values is not None:
                unit.rows(sql.set_pause, {"chat_row_id": chat.id, **pause_values})
            if device == "clear":
                unit.rows(sql.clear_device, {"chat_row_id": chat.id})
            elif device_values is not None:
                unit.rows(sql.set_device, {"chat_row_id": chat.id, **device_values})
            if receipt is not None:
                unit.rows(sql.close_receipt, {"inbox_id": receipt.inbox_id, "now": now})
            return first

        first = await run_unit(self._engine, write, write=True)
        if receipt is not None:
            receipt.closed.set()
        return [
            StoredMessage(
                first + n, m.role, m.content, m.citations, m.image_refs, m.user_id, m.platform_message_id, now
            )
            for n, m in enumerate(messages)
        ]

    async def append_message(
        self,
        key: ChatKey,
        role: Role,
        content: str,
        *,
        user_id: str | None = None,
        user_name: str | None = None,
        citations: Iterable[Citation] = (),
        image_refs: Iterable[str] = (),
        platform_message_id: str | None = None,
    ) -> StoredMessage:
        """Store one message at the chat's next position (the chat row is made on first use)."""
        message = NewMessage(
            role, content, user_id, user_name, tuple(citations), tuple(image_refs), platform_message_id
        )
        [stored] = await self.save_turn(key, [message])
        return stored

    async def history(self, key: ChatKey, limit: int) -> list[StoredMessage]:
        """The last ``limit`` messages of the current conversation, oldest first."""
        if limit <= 0:
            return []
        stmt = (
            select(*_MESSAGE_COLUMNS)
            .join(Chat, and_(Message.chat_row_id == Chat.id, Message.conversation == Chat.conversation))
            .where(*_is_chat(key))
            .order_by(Message.position.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_stored(row) for row in reversed(rows)]

    async def unsummarized(self, key: ChatKey, window: int) -> list[StoredMessage]:
        """Messages of the current conversation older than its last ``window`` ones and
        not yet folded into its summary, oldest first: what to summarise next."""
        async with self._engine.connect() as conn:
            chat = (await conn.execute(select(Chat.id, Chat.conversation).where(*_is_chat(key)))).one_or_none()
            if chat is None:
                return []
            in_conversation = (Message.chat_row_id == chat.id, Message.conversation == chat.conversation)
            covered = await conn.scalar(
                select(SummaryRow.covered_position).where(
                    SummaryRow.chat_row_id == chat.id, SummaryRow.conversation == chat.conversation
                )
            )
            stmt = select(*_MESSAGE_COLUMNS).where(*in_conversation, Message.position > (covered or 0))
            if window > 0:
                oldest_kept = (
                    select(Message.position)
                    .where(*in_conversation)
                    .order_by(Message.position.desc())
                    .limit(1)
                    .offset(window - 1)
                    .scalar_subquery()
                )
                stmt = stmt.where(Message.position < oldest_kept)  # NULL (fewer than window): none
            rows = (await conn.execute(stmt.order_by(Message.position))).all()
        return [_stored(row) for row in rows]

    async def summary(self, key: ChatKey) -> Summary | None:
        """The summary of the current conversation, if one was written."""
        stmt = (
            select(SummaryRow.text, SummaryRow.covered_position)
            .join(Chat, and_(SummaryRow.chat_row_id == Chat.id, SummaryRow.conversation == Chat.conversation))
            .where(*_is_chat(key))
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).one_or_none()
        return None if row is None else Summary(row.text, row.covered_position)

    async def set_summary(self, key: ChatKey, text: str, covered_position: int) -> bool:
        """Replace the current conversation's summary. False (and nothing stored) when
        ``covered_position`` is not a message of the current conversation — a summary
        of the old conversation finished after /new must not leak into the new one."""
        async with self._write() as conn:
            chat = (await conn.execute(select(Chat.id, Chat.conversation).where(*_is_chat(key)))).one_or_none()
            if chat is None:
                return False
            covered = await conn.scalar(
                select(Message.id).where(
                    Message.chat_row_id == chat.id,
                    Message.conversation == chat.conversation,
                    Message.position == covered_position,
                )
            )
            if covered is None:
                return False
            stmt = dialect_insert(self._dialect, SummaryRow).values(
                chat_row_id=chat.id,
                conversation=chat.conversation,
                text=text,
                covered_position=covered_position,
                updated_at=self._clock(),
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["chat_row_id", "conversation"],
                    set_={
                        "text": stmt.excluded.text,
                        "covered_position": stmt.excluded.covered_position,
                        "updated_at": stmt.excluded.updated_at,
                    },
                )
            )
        return True

    async def new_conversation(self, key: ChatKey) -> None:
        """/new: history is kept; window, summary and pending question start afresh."""
        async with self._write() as conn:
            chat_row_id = await conn.scalar(
                update(Chat).where(*_is_chat(key)).values(conversation=Chat.conversation + 1).returning(Chat.id)
            )
            if chat_row_id is not None:
                await conn.execute(delete(PauseRow).where(PauseRow.chat_row_id == chat_row_id))

    # -- pending question ----------------------------------------------------------

    async def save_pause(self, key: ChatKey, pause: Pause) -> None:
        """Remember the chat's pending question, replacing an earlier one."""
        values = _pause_values(pause)
        async with self._write() as conn:
            chat_row_id = await self._ensure_chat(conn, key, self._clock())
            await conn.execute(self._turn.set_pause.statement, {"chat_row_id": chat_row_id, **values})

    async def pause(self, key: ChatKey, now: datetime | None = None) -> Pause | None:
        """The pending question, or None; an expired one is deleted on the way."""
        now = now or self._clock()
        _require_aware(now, "now")
        stmt = select(PauseRow).join(Chat, PauseRow.chat_row_id == Chat.id).where(*_is_chat(key))
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).one_or_none()
        if row is None:
            return None
        if row.expires_at <= now:
            async with self._write() as conn:  # only if still the expired one: a new pause may have come
                await conn.execute(
                    delete(PauseRow).where(PauseRow.chat_row_id == row.chat_row_id, PauseRow.expires_at <= now)
                )
            return None
        return _pause(row)

    async def clear_pause(self, key: ChatKey) -> bool:
        """Drop the pending question; False if there was none."""
        async with self._write() as conn:
            result = await conn.execute(delete(PauseRow).where(PauseRow.chat_row_id == _chat_row_id(key)))
        return result.rowcount > 0

    # -- feedback ------------------------------------------------------------------

    async def add_feedback(self, key: ChatKey, answer_position: int, user_id: str, value: int) -> None:
        """Record a +1/-1 vote on the answer at ``answer_position``; a user's new vote replaces their old one."""
        if isinstance(value, bool) or value not in (1, -1):
            raise ValueError(f"feedback is +1 or -1, not {value!r}")
        now = self._clock()
        async with self._write() as conn:
            chat_row_id = await self._ensure_chat(conn, key, now)
            stmt = dialect_insert(self._dialect, Feedback).values(
                chat_row_id=chat_row_id, answer_position=answer_position, user_id=user_id, value=value, created_at=now
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["chat_row_id", "answer_position", "user_id"],
                    set_={"value": stmt.excluded.value, "created_at": stmt.excluded.created_at},
                )
            )

    # -- platform reference --------------------------------------------------------

    async def save_reference(self, key: ChatKey, data: dict[str, Any]) -> None:
        """Keep what the platform needs to write into this chat later (JSON-able)."""
        now = self._clock()
        async with self._write() as conn:
            chat_row_id = await self._ensure_chat(conn, key, now)
            stmt = dialect_insert(self._dialect, PlatformReference).values(
                chat_row_id=chat_row_id, data=_dumps(data), updated_at=now
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["chat_row_id"],
                    set_={"data": stmt.excluded.data, "updated_at": stmt.excluded.updated_at},
                )
            )

    async def reference(self, key: ChatKey) -> dict[str, Any] | None:
        stmt = select(PlatformReference.data).where(PlatformReference.chat_row_id == _chat_row_id(key))
        async with self._engine.connect() as conn:
            data = await conn.scalar(stmt)
        return None if data is None else cast(dict[str, Any], json.loads(data))

    # -- device --------------------------------------------------------------------

    async def device(self, key: ChatKey) -> Device | None:
        """The chat's device (outside a question turn, which reads it with ``turn_state``)."""
        stmt = select(*_DEVICE_COLUMNS).where(DeviceRow.chat_row_id == _chat_row_id(key))
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).one_or_none()
        return None if row is None else _device(row)

    async def set_device(self, key: ChatKey, device: Device) -> None:
        """Remember the chat's device, replacing an earlier one."""
        now = self._clock()
        values = _device_values(device, now)
        async with self._write() as conn:
            chat_row_id = await self._ensure_chat(conn, key, now)
            await conn.execute(self._turn.set_device.statement, {"chat_row_id": chat_row_id, **values})

    async def clear_device(self, key: ChatKey) -> bool:
        """Forget the chat's device; False if there was none."""
        async with self._write() as conn:
            result = await conn.execute(delete(DeviceRow).where(DeviceRow.chat_row_id == _chat_row_id(key)))
        return result.rowcount > 0

    # -- confirmations and forgetting ----------------------------------------------

    async def request_confirmation(self, key: ChatKey, user_id: str, action: str, within: timedelta) -> None:
        """Remember that ``user_id`` asked for ``action`` in this chat and has to confirm it ``within``."""
        now = self._clock()
        expires_at = now + within
        async with self._write() as conn:
            chat_row_id = await self._ensure_chat(conn, key, now)
            stmt = dialect_insert(self._dialect, Confirmation).values(
                chat_row_id=chat_row_id, user_id=user_id, action=action, expires_at=expires_at
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["chat_row_id", "user_id", "action"], set_={"expires_at": expires_at}
                )
            )

    async def cancel_confirmation(self, key: ChatKey, user_id: str, action: str) -> bool:
        """Drop an open request; False if there was none."""
        async with self._write() as conn:
            result = await conn.execute(delete(Confirmation).where(*_confirmation(key, user_id, action)))
        return result.rowcount > 0

    async def take_confirmation(self, key: ChatKey, user_id: str, action: str) -> bool:
        """Consume ``user_id``'s open request for ``action`` in this chat: True once, while it is still valid."""
        now = self._clock()
        async with self._write() as conn:
            result = await conn.execute(
                delete(Confirmation).where(*_confirmation(key, user_id, action), Confirmation.expires_at > now)
            )
        return result.rowcount > 0

    async def forget_user(
        self, platform: str, user_id: str, key: ChatKey | None = None, *, confirm: str | None = None
    ) -> Forgotten | None:
        """Delete ``user_id``'s rows (see ``storage.forget``) in ``key``'s chat (all its threads), or
        everywhere on ``platform`` without one, in one transaction. With ``confirm``, only when the user's request
        for that action in ``key``'s chat is still open (None otherwise: nothing deleted)."""
        if key is not None and key.platform != platform:
            raise ValueError(f"chat {key} is not on {platform}")
        now = self._clock()
        async with self._write() as conn:
            if confirm is not None:
                if key is None:
                    raise ValueError("a confirmation belongs to a chat")
                held = await conn.execute(
                    delete(Confirmation).where(*_confirmation(key, user_id, confirm), Confirmation.expires_at > now)
                )
                if held.rowcount == 0:
                    return None
            removed = await forget.forget(conn, platform, user_id, None if key is None else key.chat_id)
        chats = tuple(ChatKey(p, c, t or None) for p, c, t in removed.chats)
        return Forgotten(dict(removed.rows), tuple(removed.image_refs), chats)

    async def any_reference(self, platform: str, chat_id: str) -> dict[str, Any] | None:
        """The newest reference of any thread of a chat (a Teams channel seen only in a reply chain)."""
        stmt = (
            select(PlatformReference.data)
            .join(Chat, PlatformReference.chat_row_id == Chat.id)
            .where(Chat.platform == platform, Chat.chat_id == chat_id)
            .order_by(PlatformReference.updated_at.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            data = await conn.scalar(stmt)
        return None if data is None else cast(dict[str, Any], json.loads(data))

    # -- statistics ----------------------------------------------------------------

    async def counts(self, since: datetime) -> dict[str, int]:
        """Since ``since``: ``turns`` (user messages), ``chats`` and ``users`` that sent them."""
        _require_aware(since, "since")
        stmt = select(
            func.count(Message.id), func.count(distinct(Message.chat_row_id)), func.count(distinct(Message.user_id))
        ).where(Message.role == "user", Message.created_at >= since)
        async with self._engine.connect() as conn:
            turns, chats, users = (await conn.execute(stmt)).one()
        return {"turns": turns, "chats": chats, "users": users}

    # -- internals -----------------------------------------------------------------

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with write_transaction(self._engine) as conn:
            yield conn

    async def _ensure_chat(self, conn: AsyncConnection, key: ChatKey, now: datetime) -> int:
        """The chat's row id, creating the row on first use."""
        await conn.execute(
            dialect_insert(self._dialect, Chat)
            .values(
                platform=key.platform,
                chat_id=key.chat_id,
                thread_id=key.thread_id or None,
                thread_key=key.thread_key,
                conversation=1,
                next_position=1,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["platform", "chat_id", "thread_key"])
        )
        return (await conn.execute(select(Chat.id).where(*_is_chat(key)))).scalar_one()


def _is_chat(key: ChatKey) -> tuple[ColumnElement[bool], ...]:
    return (Chat.platform == key.platform, Chat.chat_id == key.chat_id, Chat.thread_key == key.thread_key)


def _chat_row_id(key: ChatKey) -> Any:
    return select(Chat.id).where(*_is_chat(key)).scalar_subquery()


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), not {value.isoformat()}")


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _citations_json(citations: tuple[Citation, ...]) -> str:
    return _dumps([{"file": c.file, "title": c.title, "page": c.page} for c in citations])


def _stored(row: _MessageRow) -> StoredMessage:
    return StoredMessage(
        position=row.position,
        role=cast(Role, row.role),
        content=row.content,
        citations=tuple(Citation(c["file"], c["title"], c["page"]) for c in json.loads(row.citations)),
        image_refs=tuple(json.loads(row.image_refs)),
        user_id=row.user_id,
        platform_message_id=row.platform_message_id,
        created_at=row.created_at,
    )


def _pause_values(pause: Pause) -> dict[str, Any]:
    _require_aware(pause.created_at, "created_at")
    _require_aware(pause.expires_at, "expires_at")
    return {
        "user_id": pause.user_id,
        "question": pause.question,
        "options": _dumps(list(pause.options)),
        "state": _dumps(pause.state),
        "asked_message_id": pause.asked_message_id,
        "created_at": pause.created_at,
        "expires_at": pause.expires_at,
    }


def _device_values(device: Device, now: datetime) -> dict[str, Any]:
    return {"label": device.label, "scope": device.scope, "user_id": device.user_id, "set_at": device.set_at or now}


def _device(row: Any) -> Device:
    return Device(row.device_label, row.device_scope, row.device_user, row.device_set_at)


def _confirmation(key: ChatKey, user_id: str, action: str) -> tuple[ColumnElement[bool], ...]:
    return (
        Confirmation.chat_row_id == _chat_row_id(key),
        Confirmation.user_id == user_id,
        Confirmation.action == action,
    )


def _pause(row: Any) -> Pause:
    return Pause(
        user_id=row.user_id,
        question=row.question,
        options=tuple(json.loads(row.options)),
        state=json.loads(row.state),
        asked_message_id=row.asked_message_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )
