"""Rolling summaries, written in the background after a turn: one per chat at a time, a few at once.

A turn never waits for its summary: the conversation starts one (:meth:`Summaries.start`)
after the turn's reply is stored, only when messages leave the window that the
summary does not cover yet (:func:`summary_due`, decided from what the turn read
anyway), and only for an engine that can summarise. The chat's next update runs
meanwhile; it sees the summary as far as it got.

A summary that fails is not retried now: the model's trouble (``LlmUnavailable``) is
logged at INFO, anything else by the task's done callback; a later turn starts the
next attempt, which folds in everything still missing.
"""

from __future__ import annotations

import asyncio
import logging

from bot.core.turn import Engine, HistoryItem
from bot.errors import LlmUnavailable
from storage.store import ChatKey, Store, TurnState

log = logging.getLogger(__name__)

SUMMARIES_AT_ONCE = 2  # summaries written concurrently in this process, over all chats


def summary_due(state: TurnState, window: int) -> bool:
    """Whether, once the turn's two messages are stored after ``state`` was read, a message
    of the conversation lies outside the window and outside the summary (what
    ``Store.unsummarized`` would return)."""
    kept = max(window - 2, 0)  # messages read now that stay inside the window after the turn
    leaving = state.history[: max(len(state.history) - kept, 0)]
    covered = state.summary.covered_position if state.summary else 0
    return bool(leaving) and leaving[-1].position > covered


class Summaries:
    """The background summaries of one process."""

    def __init__(self, store: Store, engine: Engine, window: int, *, at_once: int = SUMMARIES_AT_ONCE) -> None:
        self._store = store
        self._engine = engine
        self._window = window
        self._slots = asyncio.Semaphore(at_once)
        self._running: dict[ChatKey, asyncio.Task[None]] = {}

    def start(self, key: ChatKey) -> None:
        """Fold what left the chat's window into its summary, unless that is being done already."""
        if key in self._running:
            return  # what it misses of this turn, the chat's next turn starts again
        task = asyncio.create_task(self._write(key), name=f"nik-summary-{key}")
        self._running[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))

    async def idle(self) -> None:
        """Wait until no summary is being written."""
        while self._running:
            await asyncio.wait(list(self._running.values()))

    async def aclose(self) -> None:
        """Cancel the summaries still running (a later turn catches up)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _write(self, key: ChatKey) -> None:
        async with self._slots:
            dropped = await self._store.unsummarized(key, self._window)
            if not dropped:
                return
            previous = await self._store.summary(key)
            items = tuple(HistoryItem(m.role, m.content) for m in dropped if m.role in ("user", "assistant"))
            try:
                text = await self._engine.summarize(previous.text if previous else None, items)
            except LlmUnavailable as error:
                log.info("summary of chat %s postponed: %s", key, error)
                return
            if text:
                await self._store.set_summary(key, text, dropped[-1].position)

    def _finished(self, key: ChatKey, task: asyncio.Task[None]) -> None:
        del self._running[key]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("summary of chat %s failed", key, exc_info=error)
