"""/report and its pieces: real turns through the core (offline engine, two manuals) on
several days, a 👎, support cases; the report's counts, CSV and chart against what was stored."""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.core.commands import NOT_ADMIN, Commands
from bot.core.conversation import Conversation
from bot.core.messages import Answer, Clarification, IncomingMessage, Picture, Reply, feedback_data
from bot.offline.answerer import OfflineAnswerer
from bot.offline.engine import OfflineEngine
from bot.report.chart import HEIGHT, WIDTH, daily_chart
from bot.report.quality import CSV_HEADER, GROUP_REFUSED, SPAN_USAGE, csv_text, german, parse_span
from bot.report.replies import quality_report
from knowledge.service import KnowledgeBase
from storage.cases import Cases
from storage.db import database_url
from storage.store import ChatKey, Store

BOSS = "boss"
_ids = itertools.count(1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Demo:
    store: Store
    conversation: Conversation
    clock: Clock
    kb: KnowledgeBase
    outcomes: defaultdict[date, Counter[str]]  # what the core answered, per day: the expected report
    down: list[str]  # the answers voted 👎

    async def say(self, text: str, chat: str = "c1", user: str = "u1", *, group: bool = False) -> list[Reply]:
        message = IncomingMessage(
            "telegram", chat, user, user.upper(), f"m{next(_ids)}", text, is_group=group, mentions_bot=group
        )
        return [reply async for reply in self.conversation.handle(message)]

    async def ask(self, text: str, chat: str = "c1") -> Answer | Clarification:
        reply = (await self.say(text, chat))[-1]
        assert isinstance(reply, Answer | Clarification), reply
        kind = "clarification" if isinstance(reply, Clarification) else reply.kind
        self.outcomes[self.clock.now.date()][kind] += 1
        return reply


@pytest.fixture
async def demo(device_kb: KnowledgeBase, tmp_path: Path) -> AsyncIterator[Demo]:
    clock = Clock(datetime.now(UTC) - timedelta(days=3))
    store = await Store.open(database_url(tmp_path / "chat", None), clock=clock)
    commands = Commands(device_kb, store, frozenset({f"telegram:{BOSS}"}), tmp_path / "manuals", "offline")
    conversation = Conversation(store, OfflineEngine(OfflineAnswerer(device_kb)), commands, clock=clock)
    yield Demo(store, conversation, clock, device_kb, defaultdict(Counter), [])
    await store.close()


async def fill(demo: Demo) -> int:
    """Three days of questions; the number of support cases opened."""
    answered = await demo.ask("Wie groß muss der Leitungsquerschnitt beim SF-5000TL sein?")
    assert isinstance(answered, Answer) and answered.kind == "answer" and answered.feedback_id
    missing = await demo.ask("Wie hoch ist der Eiffelturm?", chat="c2")
    assert isinstance(missing, Answer) and missing.kind == "not_found"
    vote = IncomingMessage(
        "telegram", "c1", "u1", "U1", "v1", "", callback_data=feedback_data(answered.feedback_id, -1)
    )
    assert [reply async for reply in demo.conversation.handle(vote)]
    demo.down.append(answered.text)

    demo.clock.now += timedelta(days=1)
    asked = await demo.ask("was bedeutet fehler E013", chat="c3")
    assert isinstance(asked, Clarification)
    await demo.ask(next(o for o in asked.options if "Voltronic" in o), chat="c3")
    await demo.say("/device SF-5000TL", chat="c4")  # a command: not a question
    await demo.ask("Wie hoch ist der Eiffelturm?", chat="c4")  # not found, in a chat about the SF-5000TL
    cases = Cases(demo.store.engine, clock=demo.clock)
    await cases.open(ChatKey("telegram", "c2"), "u1", "U1", "Bitte helfen", ChatKey("telegram", "support"))

    demo.clock.now += timedelta(days=2)  # today
    await demo.ask("Wie hoch ist der Eiffelturm?", chat="c5")
    await cases.open(ChatKey("telegram", "c5"), "u1", "U1", "Eiffelturm?", ChatKey("telegram", "support"))
    return 2


async def test_the_report_counts_the_stored_turns_per_day(demo: Demo) -> None:
    handed = await fill(demo)
    now = datetime.now(UTC)
    report = await quality_report(demo.store, demo.kb, "7d", now)
    assert report is not None
    rows = list(csv.reader(io.StringIO(csv_text(report))))
    assert tuple(rows[0]) == CSV_HEADER
    days = [(now - timedelta(days=7)).date() + timedelta(days=n) for n in range(8)]
    assert [row[0] for row in rows[1:]] == [d.isoformat() for d in days]  # one row per day, empty ones too
    cases_per_day = await Cases(demo.store.engine).opened_per_day(now - timedelta(days=7))
    for row in rows[1:]:
        day = date.fromisoformat(row[0])
        seen = demo.outcomes[day]
        expected = [sum(seen.values()), seen["answer"], seen["clarification"], seen["not_found"]]
        assert [int(v) for v in row[1:5]] == expected, day
        assert int(row[5]) == cases_per_day.get(day, 0)
    assert sum(int(row[5]) for row in rows[1:]) == handed

    text = german(report)
    total = Counter[str]()
    for seen in demo.outcomes.values():
        total.update(seen)
    questions = sum(total.values())
    assert f"Fragen: {questions}\n" in text
    assert f"beantwortet: {total['answer']} ({round(100 * total['answer'] / questions)} %)" in text
    assert f"Rückfrage: {total['clarification']} (" in text
    assert f"nicht in den Handbüchern: {total['not_found']} (" in text
    assert f"an den Support übergeben: {handed} (" in text
    assert f"**👎 Antworten: {len(demo.down)}**" in text
    assert "Leitungsquerschnitt beim SF-5000TL" in text  # the 👎's question, its answer and sources
    assert demo.down[0].split()[0] in text and "S. " in text.split("👎")[1]
    assert f"**Nicht in den Handbüchern: {total['not_found']}**" in text
    assert "- SolarFux SF-5000TL (1): „Wie hoch ist der Eiffelturm?“" in text  # the chat's device
    assert "- ohne Gerät (2): " in text
    assert "SolarFux SF-5000TL Installations- und Bedienungsanleitung: 1 Antwort" in text


async def test_a_span_of_hours_reads_only_its_hours(demo: Demo) -> None:
    await fill(demo)
    report = await quality_report(demo.store, demo.kb, "24h", datetime.now(UTC))
    assert report is not None
    assert report.total.questions == sum(demo.outcomes[datetime.now(UTC).date()].values()) == 1
    assert report.total.handed_over == 1


async def test_report_for_admins_in_private_chats_only(demo: Demo) -> None:
    await fill(demo)
    demo.clock.now = datetime.now(UTC)
    text, chart = await demo.say("/report", user=BOSS, chat=BOSS)
    assert (
        isinstance(text, Answer)
        and "Qualitätsbericht" in text.text
        and f"Fragen: {sum(sum(c.values()) for c in demo.outcomes.values())}\n" in text.text
    )
    assert isinstance(chart, Picture) and chart.name.endswith(".png")
    with Image.open(io.BytesIO(chart.png)) as image:
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    assert len(chart.png) <= 100_000

    [refused] = await demo.say("/report 7d", user="u1")
    assert isinstance(refused, Answer) and refused.text == NOT_ADMIN
    [group] = await demo.say("/report", chat="-100500", user=BOSS, group=True)
    assert isinstance(group, Answer) and group.text == GROUP_REFUSED and "Eiffelturm" not in group.text
    [usage] = await demo.say("/report zwei Wochen", user=BOSS, chat=BOSS)
    assert isinstance(usage, Answer) and usage.text == SPAN_USAGE


@pytest.mark.parametrize(
    ("text", "span"),
    [("", timedelta(days=7)), ("7d", timedelta(days=7)), ("24h", timedelta(hours=24)), (" 30D ", timedelta(days=30))],
)
def test_parse_span(text: str, span: timedelta) -> None:
    assert parse_span(text) == span


@pytest.mark.parametrize("text", ["0d", "7", "-3d", "400d", "7w", "sieben"])
def test_parse_span_refuses(text: str) -> None:
    assert parse_span(text) is None


async def test_an_empty_report_still_has_a_chart(demo: Demo) -> None:
    report = await quality_report(demo.store, demo.kb, "30d", datetime.now(UTC))
    assert report is not None and report.total.questions == 0 and len(report.days) == 31
    assert "Fragen: 0\n" in german(report)
    png = daily_chart(report)
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (WIDTH, HEIGHT)
