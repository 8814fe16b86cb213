"""The one scheduler: the crontab setting, the sync through the reindex job, the admin note, the chores."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.messages import Progress
from bot.errors import ConfigError
from bot.runtime.jobs import BUSY, Jobs
from bot.runtime.scheduler import Schedule, parse_cron
from helpers import SAMPLE_DIR
from knowledge.service import KnowledgeBase


def test_the_schedule_setting() -> None:
    assert parse_cron("off") is None and parse_cron("") is None
    assert parse_cron("0 3 * * *") is not None
    with pytest.raises(ConfigError, match="NIK_REINDEX_CRON"):
        parse_cron("every night")


async def test_a_scheduled_sync_indexes_and_tells_the_admin_chat(sample_kb: KnowledgeBase) -> None:
    notes: list[str] = []

    async def notify(text: str) -> None:
        notes.append(text)

    schedule = Schedule(Jobs(sample_kb, SAMPLE_DIR), "30 2 * * *", notify)
    schedule.start()
    try:
        assert schedule.next_run is not None and "02:30:00" in schedule.next_run
        summary = await schedule.sync()
    finally:
        await schedule.stop()
    assert summary.startswith("Geplante Indexierung: Index aktualisiert")
    assert notes == [summary]


async def test_a_scheduled_sync_while_a_reindex_runs_is_not_a_second_one(sample_kb: KnowledgeBase) -> None:
    jobs = Jobs(sample_kb, SAMPLE_DIR)
    release = asyncio.Event()
    seen: list[Progress] = []

    async def slow_note(progress: Progress) -> None:  # the admin's /reindex, its note still being sent
        seen.append(progress)
        await release.wait()

    running = jobs.start_reindex(slow_note)
    assert running is not None
    summary = await Schedule(jobs, "off").sync()
    assert summary == f"Geplante Indexierung: {BUSY}"
    release.set()
    assert (await running).startswith("Index aktualisiert")
    assert len([p for p in seen if p.done]) == 1


async def test_the_scheduler_runs_the_chores_at_start_and_then_periodically(sample_kb: KnowledgeBase) -> None:
    runs: list[str] = []
    twice = asyncio.Event()

    async def prune() -> None:
        runs.append("prune")
        if len(runs) >= 2:
            twice.set()

    schedule = Schedule(Jobs(sample_kb, SAMPLE_DIR), "off", chores=(prune,), chore_seconds=0.2)
    schedule.start()
    try:
        assert schedule.next_run is None  # no sync: switched off
        await asyncio.wait_for(twice.wait(), 10)
    finally:
        await schedule.stop()
