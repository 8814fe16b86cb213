"""What a quality report reads, in one read transaction: every question since a moment with
the kind of Nik's reply to it, the 👎 votes with their answer, and the support hand-offs.

A *question* is a user message; Nik's reply to it is the assistant message at the next
position of its chat (``save_turn`` stores both together). A question without one (a
failed turn) has the outcome ``"none"``; a reply stored before replies carried a kind,
``"unknown"``. All of it across every chat: only admins see it (``bot.report``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import aliased

from storage.models import Device as DeviceRow
from storage.models import Feedback, Message, SupportCase
from storage.store import Citation, Store

NO_REPLY = "none"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Question:
    asked_at: datetime
    text: str
    outcome: str  # the reply's kind: "answer", "not_found", "clarification", "info", "error", … or NO_REPLY
    citations: tuple[Citation, ...]  # the reply's
    device: str | None  # the label of the chat's device, if one is set


@dataclass(frozen=True, slots=True)
class DownVote:
    voted_at: datetime
    question: str  # the user message before the answer ('' if it is gone)
    answer: str
    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class ReportData:
    since: datetime
    until: datetime
    questions: tuple[Question, ...]  # oldest first
    down_votes: tuple[DownVote, ...]  # oldest first
    handed_over: tuple[datetime, ...]  # when each support case was opened, oldest first


async def read_report(store: Store, since: datetime, until: datetime) -> ReportData:
    """Everything a report of ``[since, until)`` needs, read in one transaction."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("a report's bounds must be timezone-aware (UTC)")
    reply = aliased(Message)
    question = aliased(Message)
    answer = aliased(Message)
    questions = (
        select(Message.created_at, Message.content, reply.kind, reply.role, reply.citations, DeviceRow.label)
        .outerjoin(reply, and_(reply.chat_row_id == Message.chat_row_id, reply.position == Message.position + 1))
        .outerjoin(DeviceRow, DeviceRow.chat_row_id == Message.chat_row_id)
        .where(Message.role == "user", Message.created_at >= since, Message.created_at < until)
        .order_by(Message.created_at, Message.id)
    )
    votes = (
        select(Feedback.created_at, question.content, answer.content, answer.citations)
        .join(answer, and_(answer.chat_row_id == Feedback.chat_row_id, answer.position == Feedback.answer_position))
        .outerjoin(
            question,
            and_(
                question.chat_row_id == Feedback.chat_row_id,
                question.position == Feedback.answer_position - 1,
                question.role == "user",
            ),
        )
        .where(Feedback.value == -1, Feedback.created_at >= since, Feedback.created_at < until)
        .order_by(Feedback.created_at, Feedback.id)
    )
    cases = (
        select(SupportCase.opened_at)
        .where(SupportCase.opened_at >= since, SupportCase.opened_at < until)
        .order_by(SupportCase.opened_at)
    )
    async with store.engine.connect() as conn, conn.begin():
        asked = (await conn.execute(questions)).all()
        voted = (await conn.execute(votes)).all()
        opened = (await conn.execute(cases)).scalars().all()
    return ReportData(
        since,
        until,
        tuple(
            Question(
                row[0],
                row[1],
                _outcome(row[2], row[3]),
                _citations(row[4]) if row[3] == "assistant" else (),
                row[5],
            )
            for row in asked
        ),
        tuple(DownVote(row[0], row[1] or "", row[2], _citations(row[3])) for row in voted),
        tuple(opened),
    )


def _outcome(kind: str | None, role: str | None) -> str:
    if role != "assistant":
        return NO_REPLY
    return kind or UNKNOWN


def _citations(raw: str | None) -> tuple[Citation, ...]:
    return tuple(Citation(c["file"], c["title"], c["page"]) for c in json.loads(raw or "[]"))
