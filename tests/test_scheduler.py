"""Scheduled manual sync: the crontab setting, the same index path as /reindex, the admin note."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.commands import Commands
from bot.errors import ConfigError
from bot.runtime.scheduler import SyncSchedule, parse_cron
from helpers import SAMPLE_DIR
from knowledge.service import KnowledgeBase
from storage.store import Store


def test_the_schedule_setting() -> None:
    assert parse_cron("off") is None and parse_cron("") is None
    assert parse_cron("0 3 * * *") is not None
    with pytest.raises(ConfigError, match="NIK_REINDEX_CRON"):
        parse_cron("every night")


async def test_a_scheduled_sync_indexes_and_tells_the_admin_chat(
    sample_kb: KnowledgeBase, store: Store, tmp_path: Path
) -> None:
    notes: list[str] = []

    async def notify(text: str) -> None:
        notes.append(text)

    commands = Commands(sample_kb, store, frozenset(), SAMPLE_DIR, "offline")
    schedule = SyncSchedule(commands, "30 2 * * *", notify)
    schedule.start()
    try:
        assert schedule.next_run is not None and "02:30:00" in schedule.next_run
        summary = await schedule.run()
    finally:
        schedule.stop()
    assert summary.startswith("Geplante Indexierung: Index aktualisiert")
    assert notes == [summary]


async def test_a_switched_off_schedule_never_starts(sample_kb: KnowledgeBase, store: Store) -> None:
    schedule = SyncSchedule(Commands(sample_kb, store, frozenset(), SAMPLE_DIR, "offline"), "off")
    schedule.start()
    assert schedule.next_run is None
    schedule.stop()
