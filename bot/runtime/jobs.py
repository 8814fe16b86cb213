"""Long work outside the chat turn: the manual sync (``/reindex``, the schedule) as a background job.

A chat turn or the schedule only *starts* the job and returns; the turn's inbox row
is closed at once, so a reindex longer than ``NIK_TURN_LEASE_SECONDS`` is never taken
for a dead process's turn and run a second time by another replica. The job shows
its progress through a ``Report``: in ``nik serve`` a platform's *note* — one
message of Nik's own in the chat, sent once and then edited in place, through the
same path as the scheduled sync's note to ``NIK_ADMIN_CHAT`` — so the message keeps
updating after the turn has ended. Where no platform can write after the turn (the
terminal), the turn follows the job's reports instead.

One reindex at a time per index: in this process the running job (a second start
says ``BUSY``); across processes of one host the build's ``flock`` on
``NIK_DATA_DIR/index.lock``, which reports ``BUSY`` too.

A job has no turn around it, so it is its own error boundary: a failed build is
logged and reported in German. A platform's note logs what it cannot show itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.messages import Progress
from bot.runtime.metrics import Metrics
from knowledge.errors import IndexBusy
from knowledge.models import IndexProgress, IndexReport
from storage.store import ChatKey

if TYPE_CHECKING:  # the knowledge base is handed in; importing it (LanceDB, Arrow) takes seconds
    from knowledge.service import KnowledgeBase

log = logging.getLogger(__name__)

BUSY = "Eine Indexierung läuft bereits – ich melde mich nicht doppelt. Bitte warten, bis sie fertig ist."
STARTED = "Indexierung gestartet …"
FAILED = "Die Indexierung ist fehlgeschlagen; der bisherige Index bleibt in Betrieb. Details stehen im Log."

Report = Callable[[Progress], Awaitable[None]]  # shows one job's progress (the last has ``done``)
Notes = Callable[[ChatKey], Report]  # a platform's: a fresh note in that chat, edited in place


class Jobs:
    """The background jobs of one process (today: the reindex)."""

    def __init__(
        self,
        knowledge: KnowledgeBase,
        manuals_dir: Path,
        *,
        metrics: Metrics | None = None,
        progress_seconds: float = 3.0,
    ) -> None:
        self._knowledge = knowledge
        self._manuals_dir = manuals_dir
        self._metrics = metrics
        self._progress_seconds = progress_seconds
        self._notes: dict[str, Notes] = {}
        self._reindex: asyncio.Task[str] | None = None

    def register(self, platform: str, notes: Notes) -> None:
        """``notes(key)`` writes a job's progress into a chat of ``platform`` after the turn."""
        self._notes[platform] = notes

    def note(self, key: ChatKey) -> Report | None:
        """A report into ``key``'s chat that outlives the turn; None when its platform has none."""
        notes = self._notes.get(key.platform)
        return notes(key) if notes is not None else None

    @property
    def reindexing(self) -> bool:
        return self._reindex is not None and not self._reindex.done()

    def start_reindex(self, report: Report) -> asyncio.Task[str] | None:
        """Start the sync of the manuals folder; None when one runs in this process already.
        The task's result is the final report's text."""
        if self.reindexing:
            return None
        self._reindex = asyncio.create_task(self._run_reindex(report), name="nik-reindex")
        return self._reindex

    async def stop(self) -> None:
        """Stop reporting (shut-down). The build thread itself ends with the process; a build
        cut short leaves the previous index serving."""
        if self._reindex is not None:
            self._reindex.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reindex
            self._reindex = None

    async def _run_reindex(self, report: Report) -> str:
        last = FAILED
        try:
            async for progress in self._reindex_progress():
                last = progress.text
                await report(progress)
        except Exception:  # the job's boundary: no turn is around it to apologise
            log.exception("reindex failed")
            if self._metrics is not None:
                self._metrics.reindex_runs.labels("failed").inc()
            last = FAILED
            await report(Progress(FAILED, done=True))
        return last

    async def _reindex_progress(self) -> AsyncIterator[Progress]:
        """Index in a worker thread; a ``Progress`` every few seconds, then the summary."""
        loop = asyncio.get_running_loop()
        latest: list[IndexProgress] = []
        changed = asyncio.Event()

        def progress(state: IndexProgress) -> None:  # called in the indexing thread
            latest.append(state)
            loop.call_soon_threadsafe(changed.set)

        yield Progress(STARTED)
        build = asyncio.ensure_future(asyncio.to_thread(self._knowledge.index, [self._manuals_dir], progress))
        while not build.done():
            await asyncio.wait({build}, timeout=self._progress_seconds)
            if latest and changed.is_set() and not build.done():
                changed.clear()
                yield Progress(progress_text(latest[-1]))
        try:
            result: IndexReport = build.result()
        except IndexBusy:  # another process of this host is building
            yield Progress(BUSY, done=True)
            return
        if self._metrics is not None:
            self._metrics.reindex_runs.labels("ok").inc()
            self._metrics.reindex_seconds.observe(result.seconds)
        yield Progress(summary_text(result), done=True)


def summary_text(report: IndexReport) -> str:
    text = (
        f"Index aktualisiert (Version {report.version}): {report.documents} Handbücher, {report.pages} Seiten. "
        f"Neu {len(report.added)}, geändert {len(report.changed)}, entfernt {len(report.removed)} "
        f"in {report.seconds:.1f} s."
    )
    if report.skipped:
        text += "\nÜbersprungen: " + "; ".join(f"{file}: {reason}" for file, reason in report.skipped)
    return text


def progress_text(state: IndexProgress) -> str:
    return (
        f"Indexierung läuft: {state.files_done}/{state.files_total} Handbücher, "
        f"{state.pages_done}/{state.pages_total} Seiten" + (f" – {state.current_file}" if state.current_file else "")
    )
