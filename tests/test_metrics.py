"""Per-turn metrics and log lines: counted by platform and kind, no message content, JSON for shippers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.core.commands import Commands
from bot.core.conversation import Conversation
from bot.core.messages import IncomingMessage
from bot.offline.answerer import OfflineAnswerer
from bot.offline.engine import OfflineEngine
from bot.runtime.logs import JsonFormatter
from bot.runtime.metrics import Metrics
from knowledge.service import KnowledgeBase
from storage.store import Store

SECRET_QUESTION = "Was bedeutet Fehler E013? Kundennummer 4711-geheim"


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def conversation(sample_kb: KnowledgeBase, store: Store, metrics: Metrics) -> Conversation:
    commands = Commands(sample_kb, store, frozenset({"telegram:boss"}), Path("unused"), "offline", metrics=metrics)
    return Conversation(store, OfflineEngine(OfflineAnswerer(sample_kb)), commands, metrics=metrics)


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def run(conversation: Conversation, text: str, message_id: str, user: str = "u1") -> None:
    message = IncomingMessage("telegram", "c1", user, user, message_id, text)
    async for _ in conversation.handle(message):
        pass


async def test_turns_are_counted_by_kind_and_timed(conversation: Conversation, metrics: Metrics) -> None:
    await run(conversation, SECRET_QUESTION, "m1")
    await run(conversation, "/status", "m2")  # not an admin: refused
    await run(conversation, "/help", "m3")
    assert value(metrics, "nik_turns_total", platform="telegram", kind="answer") == 1
    assert value(metrics, "nik_turns_total", platform="telegram", kind="refused") == 1
    assert value(metrics, "nik_turns_total", platform="telegram", kind="info") == 1
    assert value(metrics, "nik_turn_seconds_count", platform="telegram") == 3
    assert metrics.today() == {"turns": 3, "errors": 0}
    text = metrics.render().decode()
    assert 'nik_turns_total{kind="answer",platform="telegram"} 1.0' in text


async def test_status_shows_this_process_and_uptime(conversation: Conversation, metrics: Metrics) -> None:
    await run(conversation, SECRET_QUESTION, "m1")
    message = IncomingMessage("telegram", "c1", "boss", "boss", "m2", "/status")
    replies = [r async for r in conversation.handle(message)]
    assert "Dieser Prozess: 1 Antworten, 0 Fehler heute" in replies[-1].text  # type: ignore[union-attr]
    assert "Läuft seit:" in replies[-1].text  # type: ignore[union-attr]


async def test_one_log_line_per_turn_without_the_message(
    conversation: Conversation, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.core.conversation"):
        await run(conversation, SECRET_QUESTION, "m1")
    lines = [r for r in caplog.records if r.getMessage().startswith("turn ")]
    assert len(lines) == 1
    line = lines[0].getMessage()
    assert "chat=telegram:c1" in line and "kind=answer" in line and "latency_ms=" in line and "tool_calls=0" in line
    assert "4711" not in caplog.text and "E013" not in caplog.text


def test_json_log_lines_carry_the_structured_fields() -> None:
    record = logging.LogRecord("bot.core.conversation", logging.INFO, __file__, 1, "turn %s", ("x",), None)
    record.chat = "telegram:c1"
    record.latency_ms = 12
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "turn x" and entry["level"] == "INFO" and entry["logger"] == "bot.core.conversation"
    assert entry["chat"] == "telegram:c1" and entry["latency_ms"] == 12
    assert entry["time"].endswith("+00:00")
