"""The tables, as typed SQLAlchemy models. Portable: no dialect-specific types.

Every row of chat state hangs off one ``chats`` row, found by its key: platform,
chat id and ``thread_key`` (the thread id, or ``''`` without a thread, so that the
unique constraint also holds on databases where NULLs never collide).

* Order is the per-chat ``position`` handed out by ``chats.next_position``, never a
  timestamp. ``conversation`` is bumped by /new: history stays, the window restarts.
* JSON travels as text (``ensure_ascii=False``); what is inside is the store's or
  the caller's business, not the database's.
* Timestamps are UTC and timezone-aware in Python (:class:`UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ROLES = ("user", "assistant", "system", "tool")

# Platform ids: Telegram numbers, Teams ids ("19:…@thread.tacv2;messageid=…", "a:1…" of
# undocumented length): VARCHAR without a length, which SQLite and Postgres both accept.
_ID = String()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in and out, stored as UTC. A naive datetime is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: storage needs timezone-aware datetimes")
        value = value.astimezone(UTC)
        # SQLite keeps text; all of it in UTC without an offset compares correctly as text.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy's class-level config)


def _chat_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), nullable=False)


class Chat(Base):
    __tablename__ = "chats"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "thread_key", name="uq_chats_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(_ID)
    thread_id: Mapped[str | None] = mapped_column(_ID)
    thread_key: Mapped[str] = mapped_column(_ID)  # thread_id or ''
    conversation: Mapped[int] = mapped_column(Integer, default=1)
    next_position: Mapped[int] = mapped_column(Integer, default=1)  # the position the next message gets
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "user_id", name="uq_users_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(_ID)
    name: Mapped[str | None] = mapped_column(_ID)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("chat_row_id", "position", name="uq_messages_position"),
        Index("ix_messages_conversation", "chat_row_id", "conversation", "position"),
        Index("ix_messages_created", "created_at"),
        CheckConstraint("role IN ('user', 'assistant', 'system', 'tool')", name="ck_messages_role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_row_id: Mapped[int] = _chat_fk()
    conversation: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    citations: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of {file, title, page}
    image_refs: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of strings
    user_id: Mapped[str | None] = mapped_column(_ID)
    platform_message_id: Mapped[str | None] = mapped_column(_ID)
    kind: Mapped[str | None] = mapped_column(String(32))  # Nik's reply: its turn's kind ("answer", "not_found", …)
    created_at: Mapped[datetime]


class Summary(Base):
    __tablename__ = "summaries"
    __table_args__ = (UniqueConstraint("chat_row_id", "conversation", name="uq_summaries_conversation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_row_id: Mapped[int] = _chat_fk()
    conversation: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    covered_position: Mapped[int] = mapped_column(Integer)  # the highest position folded in
    updated_at: Mapped[datetime]


class Pause(Base):
    """A question the bot asked and is waiting on; ``state`` resumes the turn."""

    __tablename__ = "pauses"

    chat_row_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(_ID)  # the asker: only their answer resumes
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[str] = mapped_column(Text)  # JSON list of strings
    state: Mapped[str] = mapped_column(Text)  # JSON object, opaque to storage
    asked_message_id: Mapped[str | None] = mapped_column(_ID)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("chat_row_id", "answer_position", "user_id", name="uq_feedback_vote"),
        CheckConstraint("value IN (-1, 1)", name="ck_feedback_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_row_id: Mapped[int] = _chat_fk()
    answer_position: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(_ID)
    value: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class Device(Base):
    """The device a chat (thread) is about: its searches are narrowed to ``scope``'s manuals."""

    __tablename__ = "devices"

    chat_row_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(Text)  # shown above answers: "SolarFux SF-5000TL"
    scope: Mapped[str] = mapped_column(Text)  # the product filter of the search (knowledge.devices)
    user_id: Mapped[str | None] = mapped_column(_ID)  # who set it (/forget of that user removes it)
    set_at: Mapped[datetime]


class Confirmation(Base):
    """An action a user asked for and has yet to confirm (``/forget`` → ``/forget yes``)."""

    __tablename__ = "confirmations"

    chat_row_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    action: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime]


class InboxItem(Base):
    """An incoming platform update, stored before the platform gets its 2xx.

    ``payload`` is the platform's own JSON (a Telegram update, a Teams activity),
    translated only when the turn runs. A row is pending until ``done_at`` is set;
    ``lease_until`` says until when a process is working on it; a pending row whose
    lease has run out (its process died) is taken again. The unique key makes a
    re-delivered update a no-op.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", "thread_key", "message_id", name="uq_inbox_message"),
        Index("ix_inbox_pending", "done_at", "lease_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(_ID)
    thread_key: Mapped[str] = mapped_column(_ID)
    message_id: Mapped[str] = mapped_column(_ID)
    payload: Mapped[str] = mapped_column(Text)  # JSON object
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    lease_until: Mapped[datetime]
    done_at: Mapped[datetime | None]


class PlatformReference(Base):
    """What a platform needs to write into the chat later (a Teams conversation reference)."""

    __tablename__ = "references"

    chat_row_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[str] = mapped_column(Text)  # JSON object
    updated_at: Mapped[datetime]


class SupportCase(Base):
    """A hand-off to the support team: who asked in which chat, where the case was posted.

    Keyed by the technician's chat key and user id (no foreign key to ``chats``), so
    that forgetting a user deletes their cases by those columns. ``number`` is the
    case number people see (#17), handed out by ``support_counter``."""

    __tablename__ = "support_cases"
    __table_args__ = (
        UniqueConstraint("number", name="uq_support_cases_number"),
        Index("ix_support_cases_asker", "platform", "chat_id", "thread_key", "user_id", "status"),
        Index("ix_support_cases_opened", "opened_at"),
        CheckConstraint("status IN ('open', 'closed', 'failed')", name="ck_support_cases_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    platform: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(_ID)
    thread_key: Mapped[str] = mapped_column(_ID)  # thread id or ''
    user_id: Mapped[str] = mapped_column(_ID)
    user_name: Mapped[str] = mapped_column(_ID)
    words: Mapped[str] = mapped_column(Text)  # the technician's own words, verbatim
    status: Mapped[str] = mapped_column(String(16))
    support_platform: Mapped[str] = mapped_column(String(32))
    support_chat_id: Mapped[str] = mapped_column(_ID)
    support_message_id: Mapped[str | None] = mapped_column(_ID)  # the case message in the support chat
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(16))  # "technician" | "support"


class SupportPost(Base):
    """A message of Nik's in the support chat that belongs to a case (a reply to it answers the case)."""

    __tablename__ = "support_posts"
    __table_args__ = (
        UniqueConstraint("support_platform", "support_chat_id", "support_message_id", name="uq_support_posts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_row_id: Mapped[int] = mapped_column(ForeignKey("support_cases.id", ondelete="CASCADE"), nullable=False)
    support_platform: Mapped[str] = mapped_column(String(32))
    support_chat_id: Mapped[str] = mapped_column(_ID)
    support_message_id: Mapped[str] = mapped_column(_ID)
    created_at: Mapped[datetime]


class SupportCounter(Base):
    """The next case number of this deployment (one row; numbers are never reused)."""

    __tablename__ = "support_counter"
    __table_args__ = (CheckConstraint("id = 1", name="ck_support_counter_single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_number: Mapped[int] = mapped_column(Integer)


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    __table_args__ = (CheckConstraint("id = 1", name="ck_schema_version_single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
