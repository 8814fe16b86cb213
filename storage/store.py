"""Each chat's durable state: history, summary, pending question, feedback, dedup.

Everything is keyed by :class:`ChatKey` (platform, chat id, optional thread) and
every query filters by that chat's row, so chats never see each other's state.
Plain frozen dataclasses cross the boundary; rows and sessions stay in here.

* Positions order a chat's messages (1, 2, 3, … without gaps, never timestamps):
  ``append_message`` takes the next one with ``UPDATE chats SET next_position =
  next_position + 1 … RETURNING`` in the transaction that inserts the message.
* A *conversation* is what the bot remembers: /new (``new_conversation``) keeps the
  history but starts the window, the summary and the pending question afresh.
* Writes on SQLite begin with ``BEGIN IMMEDIATE`` (:func:`storage.db.begin_write`):
  concurrent writers — tasks or processes — queue on ``busy_timeout``.
* Timestamps are timezone-aware UTC; a naive datetime is refused with ``ValueError``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias, cast

from sqlalchemy import ColumnElement, Row, and_, delete, distinct, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import create_engine, dialect_insert, write_transaction
from storage.migrations import migrate
from storage.models import (
    ROLES,
    Chat,
    Feedback,
    Message,
    PlatformReference,
    ProcessedMessage,
    User,
)
from storage.models import Pause as PauseRow
from storage.models import Summary as SummaryRow

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


_MESSAGE_COLUMNS = (
    Message.position,
    Message.role,
    Message.content,
    Message.citations,
    Message.image_refs,
    Message.user_id,
    Message.platform_message_id,
    Message.created_at,
)
# position, role, content, citations, image_refs, user_id, platform_message_id, created_at
_MessageRow: TypeAlias = Row[int, str, str, str, str, str | None, str | None, datetime]


class Store:
    """The chat-state store over one async engine. Open with :meth:`open`, end with :meth:`close`."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock

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

    # -- incoming messages ---------------------------------------------------------

    async def claim_message(self, key: ChatKey, message_id: str) -> bool:
        """True the first time ``message_id`` is seen in this chat, False on re-delivery."""
        stmt = (
            dialect_insert(self._dialect, ProcessedMessage)
            .values(
                platform=key.platform,
                chat_id=key.chat_id,
                thread_key=key.thread_key,
                message_id=message_id,
                created_at=self._clock(),
            )
            .on_conflict_do_nothing(index_elements=["platform", "chat_id", "thread_key", "message_id"])
        )
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return result.rowcount == 1

    async def prune_processed(self, before: datetime) -> int:
        """Forget claims older than ``before`` (platforms stop re-delivering after a day)."""
        _require_aware(before, "before")
        async with self._write() as conn:
            result = await conn.execute(delete(ProcessedMessage).where(ProcessedMessage.created_at < before))
        return result.rowcount

    # -- history -------------------------------------------------------------------

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
        """Store a message at the chat's next position (the chat row is made on first use)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        cites, images, now = tuple(citations), tuple(image_refs), self._clock()
        async with self._write() as conn:
            await self._ensure_chat(conn, key, now)
            taken = (
                await conn.execute(
                    update(Chat)
                    .where(*_is_chat(key))
                    .values(next_position=Chat.next_position + 1)
                    .returning(Chat.id, Chat.conversation, Chat.next_position)
                )
            ).one()
            if user_id is not None:
                await self._touch_user(conn, key.platform, user_id, user_name, now)
            await conn.execute(
                insert(Message).values(
                    chat_row_id=taken.id,
                    conversation=taken.conversation,
                    position=taken.next_position - 1,
                    role=role,
                    content=content,
                    citations=_citations_json(cites),
                    image_refs=_dumps(list(images)),
                    user_id=user_id,
                    platform_message_id=platform_message_id,
                    created_at=now,
                )
            )
        return StoredMessage(taken.next_position - 1, role, content, cites, images, user_id, platform_message_id, now)

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
        _require_aware(pause.created_at, "created_at")
        _require_aware(pause.expires_at, "expires_at")
        values = {
            "user_id": pause.user_id,
            "question": pause.question,
            "options": _dumps(list(pause.options)),
            "state": _dumps(pause.state),
            "asked_message_id": pause.asked_message_id,
            "created_at": pause.created_at,
            "expires_at": pause.expires_at,
        }
        async with self._write() as conn:
            chat_row_id = await self._ensure_chat(conn, key, self._clock())
            stmt = dialect_insert(self._dialect, PauseRow).values(chat_row_id=chat_row_id, **values)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["chat_row_id"], set_=values))

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
        return Pause(
            user_id=row.user_id,
            question=row.question,
            options=tuple(json.loads(row.options)),
            state=json.loads(row.state),
            asked_message_id=row.asked_message_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )

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

    async def feedback(self, key: ChatKey) -> dict[int, int]:
        """Answer position → sum of votes, for this chat."""
        stmt = (
            select(Feedback.answer_position, func.sum(Feedback.value))
            .join(Chat, Feedback.chat_row_id == Chat.id)
            .where(*_is_chat(key))
            .group_by(Feedback.answer_position)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return {position: int(total) for position, total in rows}

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

    async def _touch_user(
        self, conn: AsyncConnection, platform: str, user_id: str, name: str | None, now: datetime
    ) -> None:
        stmt = dialect_insert(self._dialect, User).values(
            platform=platform, user_id=user_id, name=name, first_seen=now, last_seen=now
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["platform", "user_id"],
                set_={"name": func.coalesce(stmt.excluded.name, User.name), "last_seen": stmt.excluded.last_seen},
            )
        )


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
