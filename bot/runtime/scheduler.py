"""Scheduled manual sync: ``NIK_REINDEX_CRON`` runs the same incremental index as /reindex.

The summary goes to ``NIK_ADMIN_CHAT`` through ``notify`` when one is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.core.commands import Commands
from bot.core.messages import Progress
from bot.errors import ConfigError

log = logging.getLogger(__name__)

Notify = Callable[[str], Awaitable[None]]
OFF = ("", "off", "none", "disabled")


def parse_cron(expression: str) -> CronTrigger | None:
    """A five-field crontab line (UTC), or None when the schedule is switched off."""
    if expression.strip().lower() in OFF:
        return None
    try:
        return CronTrigger.from_crontab(expression.strip(), timezone="UTC")
    except ValueError as error:
        raise ConfigError(f"NIK_REINDEX_CRON: not a crontab line ({expression!r}): {error}") from None


class SyncSchedule:
    def __init__(self, commands: Commands, cron: str, notify: Notify | None = None) -> None:
        self._commands = commands
        self._trigger = parse_cron(cron)
        self._notify = notify
        self._scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        if self._trigger is None:
            return
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(self.run, self._trigger, id="reindex", max_instances=1, coalesce=True)
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    @property
    def next_run(self) -> str | None:
        job = self._scheduler.get_job("reindex") if self._scheduler else None
        return job.next_run_time.isoformat() if job and job.next_run_time else None

    async def run(self) -> str:
        """One sync now; its summary (also sent to the admin chat)."""
        summary = "Geplante Indexierung: kein Ergebnis"
        async for reply in self._commands.reindex():
            if isinstance(reply, Progress) and reply.done:
                summary = f"Geplante Indexierung: {reply.text}"
        log.warning("%s", summary)
        if self._notify is not None:
            await self._notify(summary)
        return summary
