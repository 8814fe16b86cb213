"""Forgetting one user: every row of theirs, in one chat or in all chats, in one transaction.

The rules work on the tables as ``storage.models`` declares them, so a table added
later is covered without a change here when it follows the house pattern:

* a table with ``chat_row_id`` and ``user_id`` holds per-user rows of a chat (pauses,
  feedback, the device a user set, confirmations, messages, …): the user's rows go;
* a table keyed by ``platform``, ``chat_id`` and ``user_id`` instead of a chat row (support
  cases) likewise; rows hanging off those by a cascading foreign key (a case's posts) go
  with them;
* Nik's answer to one of the user's questions (the ``assistant`` message right after
  it) goes with the question: it answers them and may repeat what they wrote;
* a chat's rolling summary (``summaries``) folds in everybody's messages, so it goes
  for every chat the user wrote in; the next summary is written from what remains;
* a JSON column naming the user as ``from``/``user`` (a Teams conversation reference,
  an inbox payload, whose text is the user's or quotes them) makes its row theirs;
* a chat where, after that, no row of anybody else is left (a private chat, a group
  only they used) goes entirely, its chat row too (a Telegram private chat's id is the
  user's id);
* the user's ``users`` row goes once none of their messages is left on the platform.

Photos are files, not rows: the result names the deleted messages' photos and the
chats that went, and the caller deletes those from the photo folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Base, Chat, InboxItem, Message, PlatformReference, User

DERIVED_TABLES = frozenset({"summaries"})  # written from everybody's messages of a chat
_PERSON_KEYS = ("from", "user")  # Telegram and Teams name a sender (or a reference's user) so
_ID_KEYS = ("id", "aadObjectId", "aad_object_id")


@dataclass
class Removed:
    """What a forget deleted: rows per table, the photos of deleted messages, the chats that went."""

    rows: dict[str, int] = field(default_factory=dict)
    image_refs: list[str] = field(default_factory=list)
    chats: list[tuple[str, str, str]] = field(default_factory=list)  # platform, chat id, thread key

    def count(self, table: str, n: int) -> None:
        if n:
            self.rows[table] = self.rows.get(table, 0) + n


def mentions(value: Any, user_id: str) -> bool:
    """Whether parsed JSON names ``user_id`` as a sender or a reference's user, anywhere inside."""
    if isinstance(value, dict):
        for name, inner in value.items():
            if name in _PERSON_KEYS and isinstance(inner, dict) and _is_user(inner, user_id):
                return True
            if mentions(inner, user_id):
                return True
    elif isinstance(value, list):
        return any(mentions(item, user_id) for item in value)
    return False


def _is_user(person: dict[str, Any], user_id: str) -> bool:
    return any(person.get(k) is not None and str(person[k]) == user_id for k in _ID_KEYS)


def chat_tables() -> list[Table]:
    """Every table that hangs off a chat, children first."""
    return [t for t in reversed(Base.metadata.sorted_tables) if "chat_row_id" in t.c]


def keyed_tables() -> list[Table]:
    """Every table of per-user rows keyed by platform and chat id rather than a chat row."""
    return [
        t
        for t in Base.metadata.sorted_tables
        if {"platform", "chat_id", "user_id"} <= set(t.c.keys()) and "chat_row_id" not in t.c
    ]


async def forget(conn: AsyncConnection, platform: str, user_id: str, chat: str | None = None) -> Removed:
    """Delete ``user_id``'s rows on ``platform``: in the chat ``chat`` (all its threads: a forum's
    topics, a channel's reply chains) or, without one, in all chats. Runs inside the caller's
    write transaction."""
    removed = Removed()
    chats = await _chats(conn, platform, user_id, chat)
    if chats:
        await _messages(conn, removed, chats, user_id)
        for table in chat_tables():
            if table.name == Message.__tablename__:
                continue
            in_chats = table.c.chat_row_id.in_(chats)
            if "user_id" in table.c:
                result = await conn.execute(delete(table).where(in_chats, table.c.user_id == user_id))
                removed.count(table.name, result.rowcount)
            elif table.name in DERIVED_TABLES:
                removed.count(table.name, (await conn.execute(delete(table).where(in_chats))).rowcount)
        await _references(conn, removed, chats, user_id)
        for chat_row_id in chats:
            if not await _anybody_else(conn, chat_row_id, user_id):
                await _drop_chat(conn, removed, chat_row_id)
    for table in keyed_tables():
        stmt = delete(table).where(table.c.platform == platform, table.c.user_id == user_id)
        if chat is not None:
            stmt = stmt.where(table.c.chat_id == chat)
        removed.count(table.name, (await conn.execute(stmt)).rowcount)
    await _inbox(conn, removed, platform, user_id, chat)
    left = await conn.scalar(
        select(func.count(Message.id))
        .join(Chat, Message.chat_row_id == Chat.id)
        .where(Chat.platform == platform, Message.user_id == user_id)
    )
    if not left:
        users = delete(User).where(User.platform == platform, User.user_id == user_id)
        removed.count(User.__tablename__, (await conn.execute(users)).rowcount)
    return removed


async def _chats(conn: AsyncConnection, platform: str, user_id: str, chat: str | None) -> list[int]:
    """The chat rows to look in: the chat's threads, or every chat of the platform with a trace of the user."""
    on_platform = select(Chat.id).where(Chat.platform == platform)
    if chat is not None:
        return sorted((await conn.scalars(on_platform.where(Chat.chat_id == chat))).all())
    ids: set[int] = set((await conn.scalars(on_platform.where(Chat.chat_id == user_id))).all())
    for table in chat_tables():
        if "user_id" in table.c:
            rows = select(table.c.chat_row_id).where(table.c.user_id == user_id, table.c.chat_row_id.in_(on_platform))
            ids.update((await conn.scalars(rows)).all())
    references = select(PlatformReference.chat_row_id, PlatformReference.data).where(
        PlatformReference.chat_row_id.in_(on_platform)
    )
    for chat_row_id, data in (await conn.execute(references)).all():
        if mentions(json.loads(data), user_id):
            ids.add(chat_row_id)
    return sorted(ids)


async def _messages(conn: AsyncConnection, removed: Removed, chats: list[int], user_id: str) -> None:
    """The user's messages and Nik's answers right after them; their photos are noted."""
    mine = (
        await conn.execute(
            select(Message.id, Message.chat_row_id, Message.position, Message.image_refs).where(
                Message.chat_row_id.in_(chats), Message.user_id == user_id
            )
        )
    ).all()
    if not mine:
        return
    for row in mine:
        removed.image_refs.extend(json.loads(row.image_refs))
    answers: list[int] = []
    for batch in _batches([(row.chat_row_id, row.position + 1) for row in mine]):
        found = await conn.scalars(
            select(Message.id).where(
                tuple_(Message.chat_row_id, Message.position).in_(batch), Message.role == "assistant"
            )
        )
        answers.extend(found.all())
    ids = [row.id for row in mine] + answers
    for batch_ids in _batches(ids):
        removed.count(
            Message.__tablename__, (await conn.execute(delete(Message).where(Message.id.in_(batch_ids)))).rowcount
        )


async def _references(conn: AsyncConnection, removed: Removed, chats: list[int], user_id: str) -> None:
    rows = await conn.execute(
        select(PlatformReference.chat_row_id, PlatformReference.data).where(PlatformReference.chat_row_id.in_(chats))
    )
    theirs = [chat_row_id for chat_row_id, data in rows.all() if mentions(json.loads(data), user_id)]
    if theirs:
        result = await conn.execute(delete(PlatformReference).where(PlatformReference.chat_row_id.in_(theirs)))
        removed.count(PlatformReference.__tablename__, result.rowcount)


async def _anybody_else(conn: AsyncConnection, chat_row_id: int, user_id: str) -> bool:
    """Whether a row of another user is left in the chat."""
    for table in chat_tables():
        if "user_id" in table.c:
            other = select(table.c.chat_row_id).where(
                table.c.chat_row_id == chat_row_id, table.c.user_id.is_not(None), table.c.user_id != user_id
            )
            if await conn.scalar(other.limit(1)) is not None:
                return True
    return False


async def _drop_chat(conn: AsyncConnection, removed: Removed, chat_row_id: int) -> None:
    """The chat and everything left of it (Nik's messages, the reference, …)."""
    for table in chat_tables():
        removed.count(
            table.name, (await conn.execute(delete(table).where(table.c.chat_row_id == chat_row_id))).rowcount
        )
    row = (
        await conn.execute(
            delete(Chat).where(Chat.id == chat_row_id).returning(Chat.platform, Chat.chat_id, Chat.thread_key)
        )
    ).one()
    removed.count(Chat.__tablename__, 1)
    removed.chats.append((row.platform, row.chat_id, row.thread_key))


async def _inbox(conn: AsyncConnection, removed: Removed, platform: str, user_id: str, chat: str | None) -> None:
    """Stored updates the user sent, or that quote them (a reply carries the replied-to message)."""
    stmt = select(InboxItem.id, InboxItem.payload).where(InboxItem.platform == platform)
    if chat is not None:
        stmt = stmt.where(InboxItem.chat_id == chat)
    theirs = [row.id for row in (await conn.execute(stmt)).all() if mentions(json.loads(row.payload), user_id)]
    for batch in _batches(theirs):
        removed.count(
            InboxItem.__tablename__, (await conn.execute(delete(InboxItem).where(InboxItem.id.in_(batch)))).rowcount
        )


def _batches(items: Iterable[Any], size: int = 500) -> list[list[Any]]:
    """Bound the IN lists (SQLite allows some thousand parameters per statement)."""
    listed = list(items)
    return [listed[i : i + size] for i in range(0, len(listed), size)]
