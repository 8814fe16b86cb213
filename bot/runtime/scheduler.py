"""The one scheduler: APScheduler runs every periodic chore of ``nik serve``.

* the manual sync at ``NIK_REINDEX_CRON`` (UTC crontab; ``off`` switches it off): the
  same background job as /reindex, under the same lock, its summary sent to
  ``NIK_ADMIN_CHAT`` through ``notify`` when one is configured;
* the chores (forgetting old inbox rows and claims, pruning old photos), hourly and
  once at start.

The dispatcher's lease sweep and heartbeat are not here: they belong to the
dispatcher's lifecycle (started with it, stopped after its last turn) and tick in
seconds, not hours.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.messages import Progress
from bot.errors import ConfigError
from bot.runtime.jobs import BUSY, Jobs

log = logging.getLogger(__name__)

Notify = Callable[[str], Awaitable[None]]
Chore = Callable[[], Awaitable[object]]
OFF = ("", "off", "none", "disabled")
CHORE_SECONDS = 3600.0


def parse_cron(expression: str) -> CronTrigger | None:
    """A five-field crontab line (UTC), or None when the schedule is switched off."""
    if expression.strip().lower() in OFF:
        return None
    try:
        return CronTrigger.from_crontab(expression.strip(), timezone="UTC")
    except ValueError as error:
        raise ConfigError(f"NIK_REINDEX_CRON: not a crontab line ({expression!r}): {error}") from None


class Schedule:
    def __init__(
        self,
        jobs: Jobs,
        cron: str,
        notify: Notify | None = None,
        *,
        chores: Sequence[Chore] = (),
        chore_seconds: float = CHORE_SECONDS,
    ) -> None:
        self._jobs = jobs
        self._trigger = parse_cron(cron)
        self._notify = notify
        self._chores = tuple(chores)
        self._chore_seconds = chore_seconds
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[object]] = set()  # chores under way, awaited by stop

    def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        if self._trigger is not None:
            self._scheduler.add_job(self.sync, self._trigger, id="reindex", max_instances=1, coalesce=True)
        for number, chore in enumerate(self._chores):
            self._scheduler.add_job(
                self._tracked(chore),
                IntervalTrigger(seconds=self._chore_seconds, timezone="UTC"),
                id=f"chore-{number}",
                next_run_time=datetime.now(UTC),  # once at start, then every interval
                max_instances=1,
                coalesce=True,
            )
        self._scheduler.start()

    async def stop(self) -> None:
        """No more runs; a chore under way finishes first (it may be writing to the store,
        which closes next: cancelling an aiosqlite call can leave its connection's close
        waiting forever, omnilib/aiosqlite#259)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._running:
            await asyncio.wait(set(self._running))

    def _tracked(self, chore: Chore) -> Chore:
        async def run() -> object:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                return await chore()
            finally:
                self._running.discard(task)

        return run

    @property
    def next_run(self) -> str | None:
        job = self._scheduler.get_job("reindex") if self._scheduler else None
        return job.next_run_time.isoformat() if job and job.next_run_time else None

    async def sync(self) -> str:
        """One sync now; its summary (also sent to the admin chat)."""
        final: list[str] = []

        async def keep(progress: Progress) -> None:
            if progress.done:
                final.append(progress.text)

        job = self._jobs.start_reindex(keep)
        if job is not None:
            await job
        summary = f"Geplante Indexierung: {final[-1] if final else BUSY}"
        log.warning("%s", summary)
        if self._notify is not None:
            await self._notify(summary)
        return summary
