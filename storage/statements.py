"""The statements of a question turn's read and write, built once per dialect with bound parameters.

Building a SQLAlchemy statement from ORM attributes (and computing its cache key)
took longer than running it on SQLite; a statement object reused with new
parameters skips both (its cache key is memoized, its compiled form cached). What
they do is :meth:`storage.store.Store.turn_state` and :meth:`~storage.store.Store.save_turn`'s
business; here they are only built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, and_, bindparam, func, insert, outerjoin, select, update

from storage.db import dialect_insert
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
    (one dict per message), ``close_receipt`` (``inbox_id``, ``now``)."""

    chat_state: Any
    window: Any
    take_positions: Any
    touch_user: Any
    insert_messages: Any
    close_receipt: Any


def turn_statements(dialect: str) -> TurnStatements:
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
    close_receipt = (
        update(InboxItem)
        .where(InboxItem.id == bindparam("inbox_id"), InboxItem.done_at.is_(None))
        .values(done_at=bindparam("now"))
    )
    return TurnStatements(chat_state, window, take_positions, touch_user, insert(Message), close_receipt)
