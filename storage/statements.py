"""The statements of a question turn's read and write, built and compiled once per engine.

Building a SQLAlchemy statement from ORM attributes (and computing its cache key)
took longer than running it on SQLite; each is built once and compiled once
(:class:`storage.db.Prepared`), and on SQLite runs on the driver without SQLAlchemy's
adapter between. What they do is :meth:`storage.store.Store.turn_state` and :meth:`~storage.store.Store.save_turn`'s
business; here they are only built.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, and_, bindparam, delete, func, insert, outerjoin, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import Prepared, dialect_insert
from storage.models import Chat, InboxItem, Message, User
from storage.models import Device as DeviceRow
from storage.models import Pause as PauseRow
from storage.models import Summary as SummaryRow

MESSAGE_COLUMNS = (
    Message.position,
    Message.role,
    Message.content,
    Message.citations,
    Message.image_refs,
    Message.user_id,
    Message.platform_message_id,
    Message.created_at,
)
PAUSE_COLUMNS = (
    PauseRow.user_id,
    PauseRow.question,
    PauseRow.options,
    PauseRow.state,
    PauseRow.asked_message_id,
    PauseRow.created_at,
    PauseRow.expires_at,
)
DEVICE_COLUMNS = (
    DeviceRow.label.label("device_label"),
    DeviceRow.scope.label("device_scope"),
    DeviceRow.user_id.label("device_user"),
    DeviceRow.set_at.label("device_set_at"),
)


@dataclass(frozen=True, slots=True)
class TurnStatements:
    """Parameters: ``chat_state`` (``key_platform``, ``key_chat_id``, ``key_thread_key``),
    ``window`` (``chat_row_id``, ``conversation``, ``window``), ``take_positions`` (the chat
    row's columns and ``count``), ``touch_user`` (the user row's columns), ``insert_messages``
    (one dict per message, :data:`MESSAGE_INSERT` columns), ``clear_pause`` and ``clear_device``
    (``chat_row_id``), ``set_pause`` and ``set_device`` (``chat_row_id`` and the row's other
    columns), ``close_receipt`` (``inbox_id``, ``now``)."""

    chat_state: Prepared
    window: Prepared
    take_positions: Prepared
    touch_user: Prepared
    insert_messages: Prepared
    clear_pause: Prepared
    set_pause: Prepared
    clear_device: Prepared
    set_device: Prepared
    close_receipt: Prepared


CHAT_INSERT = ("platform", "chat_id", "thread_id", "thread_key", "conversation", "next_position", "created_at")
USER_INSERT = ("platform", "user_id", "name", "first_seen", "last_seen")
MESSAGE_INSERT = (
    "chat_row_id",
    "conversation",
    "position",
    "role",
    "content",
    "citations",
    "image_refs",
    "user_id",
    "platform_message_id",
    "kind",
    "created_at",
)
PAUSE_SET = ("user_id", "question", "options", "state", "asked_message_id", "created_at", "expires_at")
DEVICE_SET = ("label", "scope", "user_id", "set_at")


def turn_statements(engine: AsyncEngine) -> TurnStatements:
    dialect = engine.dialect.name
    chat_state = (
        select(Chat.id, Chat.conversation, SummaryRow.text, SummaryRow.covered_position, *PAUSE_COLUMNS)
        .add_columns(*DEVICE_COLUMNS)
        .select_from(
            outerjoin(
                outerjoin(
                    outerjoin(
                        Chat,
                        SummaryRow,
                        and_(SummaryRow.chat_row_id == Chat.id, SummaryRow.conversation == Chat.conversation),
                    ),
                    PauseRow,
                    PauseRow.chat_row_id == Chat.id,
                ),
                DeviceRow,
                DeviceRow.chat_row_id == Chat.id,
            )
        )
        .where(
            Chat.platform == bindparam("key_platform"),
            Chat.chat_id == bindparam("key_chat_id"),
            Chat.thread_key == bindparam("key_thread_key"),
        )
    )
    window = (
        select(*MESSAGE_COLUMNS)
        .where(Message.chat_row_id == bindparam("chat_row_id"), Message.conversation == bindparam("conversation"))
        .order_by(Message.position.desc())
        .limit(bindparam("window", type_=Integer))
    )
    positions = dialect_insert(dialect, Chat)
    take_positions = positions.on_conflict_do_update(
        index_elements=["platform", "chat_id", "thread_key"],
        set_={"next_position": Chat.next_position + bindparam("count", type_=Integer)},
    ).returning(Chat.id, Chat.conversation, Chat.next_position)
    user = dialect_insert(dialect, User)
    touch_user = user.on_conflict_do_update(
        index_elements=["platform", "user_id"],
        set_={"name": func.coalesce(user.excluded.name, User.name), "last_seen": user.excluded.last_seen},
    )
    pause = dialect_insert(dialect, PauseRow)
    set_pause = pause.on_conflict_do_update(
        index_elements=["chat_row_id"], set_={name: pause.excluded[name] for name in PAUSE_SET}
    )
    device = dialect_insert(dialect, DeviceRow)
    set_device = device.on_conflict_do_update(
        index_elements=["chat_row_id"], set_={name: device.excluded[name] for name in DEVICE_SET}
    )
    close_receipt = (
        update(InboxItem)
        .where(InboxItem.id == bindparam("inbox_id"), InboxItem.done_at.is_(None))
        .values(done_at=bindparam("now"))
    )
    return TurnStatements(
        chat_state=Prepared(engine, chat_state),
        window=Prepared(engine, window),
        take_positions=Prepared(engine, take_positions, CHAT_INSERT),
        touch_user=Prepared(engine, touch_user, USER_INSERT),
        insert_messages=Prepared(engine, insert(Message), MESSAGE_INSERT),
        clear_pause=Prepared(engine, delete(PauseRow).where(PauseRow.chat_row_id == bindparam("chat_row_id"))),
        set_pause=Prepared(engine, set_pause, ("chat_row_id", *PAUSE_SET)),
        clear_device=Prepared(engine, delete(DeviceRow).where(DeviceRow.chat_row_id == bindparam("chat_row_id"))),
        set_device=Prepared(engine, set_device, ("chat_row_id", *DEVICE_SET)),
        close_receipt=Prepared(engine, close_receipt),
    )
