"""storage.report: questions with their reply's kind, 👎 votes with question and answer, support cases,
inside the span only; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from storage.cases import Cases
from storage.report import NO_REPLY, read_report
from storage.store import ChatKey, Citation, Device, NewMessage, Store
from storage_helpers import ManualClock

A, B = ChatKey("telegram", "1"), ChatKey("teams", "19:x", "t1")
CITE = Citation("a.pdf", "Handbuch A", 3)


async def test_read_report_pairs_questions_with_replies_inside_the_span(store: Store, clock: ManualClock) -> None:
    start = clock.now
    await store.save_turn(A, [NewMessage("user", "vor dem Zeitraum", "u1")])
    clock.advance(hours=1)
    since = clock.now
    answered = await store.save_turn(
        A, [NewMessage("user", "Frage 1", "u1"), NewMessage("assistant", "Antwort 1", citations=(CITE,), kind="answer")]
    )
    await store.save_turn(B, [NewMessage("user", "Frage 2", "u2"), NewMessage("assistant", "?", kind="clarification")])
    await store.set_device(B, Device("Marke X", "x"))
    await store.save_turn(B, [NewMessage("user", "Frage 3", "u2")])  # a failed turn: no reply
    await store.add_feedback(A, answered[1].position, "u1", -1)
    await store.add_feedback(A, answered[1].position, "u9", 1)  # 👍 is not listed
    await Cases(store.engine, clock=clock).open(B, "u2", "U2", "Hilfe", ChatKey("telegram", "support"))
    clock.advance(hours=1)
    await store.save_turn(A, [NewMessage("user", "nach dem Zeitraum", "u1")])

    data = await read_report(store, since, clock.now)
    assert [(q.text, q.outcome, q.citations, q.device) for q in data.questions] == [
        ("Frage 1", "answer", (CITE,), None),
        ("Frage 2", "clarification", (), "Marke X"),
        ("Frage 3", NO_REPLY, (), "Marke X"),
    ]
    assert [(v.question, v.answer, v.citations) for v in data.down_votes] == [("Frage 1", "Antwort 1", (CITE,))]
    assert data.handed_over == (since,)
    before = await read_report(store, start, start + timedelta(minutes=1))
    assert [q.text for q in before.questions] == ["vor dem Zeitraum"] and before.handed_over == ()
