"""Runs stored platform updates: one chat at a time in arrival order, chats in parallel.

An adapter hands each update to :meth:`Dispatcher.submit` *before* it acknowledges
it to the platform. ``submit`` stores it in the inbox (a re-delivery is dropped
there: the one de-duplication) and queues it; the chat's worker (the one ordering)
calls the platform's ``process`` with the update and its ``Receipt`` (translate the
payload, run the conversation, render the replies). A turn that stores something
marks the update done in that same write; otherwise the worker marks it done.

While the process lives, one heartbeat renews the lease of every update it holds
(queued, waiting or running) every third of the lease, so a turn longer than the
lease is never taken for a dead one's. If the process dies mid-turn the update stays
pending; when its lease runs out the sweeper of any process serving that platform
takes it again — after a restart, or on another replica. Replicas on one database
keep each chat in order too: an update waits while an earlier one of its chat is
pending anywhere. An update that keeps failing is given up after ``MAX_ATTEMPTS``
so that one poisoned message cannot loop forever. Periodic chores (pruning) are
not the dispatcher's: the scheduler runs them.

This is the framework error hook of Nik's two broad catches: an exception escaping a
platform's ``process`` is logged here and the update is closed. (The other one is
the conversation's turn boundary.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from storage.inbox import Delivery, Inbox
from storage.store import ChatKey, Receipt

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
ORDER_POLL_SECONDS = 0.1  # how often a chat's later update checks whether the earlier ones are done
Process = Callable[[Delivery, Receipt], Awaitable[None]]


@dataclass
class _Queue:
    items: deque[Delivery] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None


class Dispatcher:
    def __init__(
        self,
        inbox: Inbox,
        *,
        lease: timedelta,
        sweep_seconds: float = 10.0,
    ) -> None:
        self._inbox = inbox
        self._lease = lease
        self._sweep_seconds = sweep_seconds
        self._platforms: dict[str, Process] = {}
        self._queues: dict[ChatKey, _Queue] = {}
        self._held: dict[int, Delivery] = {}  # every update this process holds, with its current lease
        self._loops: list[tuple[asyncio.Task[None], asyncio.Event]] = []  # the sweeper and the heartbeat
        self._idle = asyncio.Event()
        self._idle.set()

    def register(self, platform: str, process: Process) -> None:
        """``process`` runs every update of ``platform`` (before :meth:`start`)."""
        self._platforms[platform] = process

    async def submit(self, key: ChatKey, message_id: str, payload: dict[str, Any]) -> bool:
        """Store the update and queue it; False when it was stored before (a re-delivery).

        Raises ``StorageError`` (or the driver's error) when it cannot be stored:
        the adapter must then not acknowledge it, so that the platform re-delivers."""
        if key.platform not in self._platforms:
            raise ValueError(f"no platform {key.platform!r} registered")
        delivery = await self._inbox.put(key, message_id, payload, self._lease)
        if delivery is None:
            return False
        self._enqueue(delivery)
        return True

    async def start(self) -> None:
        """Take over what a dead process left pending, then keep sweeping and renewing."""
        await self.sweep()
        sweeping, beating = asyncio.Event(), asyncio.Event()
        self._loops = [
            (asyncio.create_task(self._sweep_forever(sweeping), name="nik-dispatcher-sweeper"), sweeping),
            (asyncio.create_task(self._heartbeat(beating), name="nik-dispatcher-heartbeat"), beating),
        ]

    async def sweep(self) -> int:
        """Queue the pending updates whose lease has run out; how many were taken."""
        taken = await self._inbox.take_expired(self._lease, list(self._platforms))
        for delivery in taken:
            log.warning("taking over update %s of %s (attempt %d)", delivery.id, delivery.key, delivery.attempts)
            self._enqueue(delivery)
        return len(taken)

    async def drain(self) -> None:
        """Wait until every queued update has been run."""
        await self._idle.wait()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop sweeping, let running turns finish for ``grace`` seconds, cancel the rest.

        A cancelled turn's update stays pending and is taken again after a restart.
        The heartbeat keeps renewing until the last turn is over. The two loops are asked
        to stop, not cancelled: a task cancelled inside an aiosqlite call can leave its
        connection's close waiting forever (omnilib/aiosqlite#259)."""
        loops, self._loops = self._loops, []
        if loops:
            await _finish(*loops[0])
        workers = [q.worker for q in self._queues.values() if q.worker is not None]
        if workers:
            _, late = await asyncio.wait(workers, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        if loops:
            await _finish(*loops[1])

    def _enqueue(self, delivery: Delivery) -> None:
        queue = self._queues.get(delivery.key)
        if queue is None:
            queue = self._queues[delivery.key] = _Queue()
        queue.items.append(delivery)
        self._held[delivery.id] = delivery
        self._idle.clear()
        if queue.worker is None:
            queue.worker = asyncio.create_task(self._work(delivery.key, queue), name=f"nik-chat-{delivery.key}")

    async def _work(self, key: ChatKey, queue: _Queue) -> None:
        try:
            while queue.items:
                delivery = min(queue.items, key=lambda d: d.id)  # a taken-over earlier update goes first
                queue.items.remove(delivery)
                held = self._held.get(delivery.id)
                if held is None:
                    log.warning("update %s of %s was taken over by another process", delivery.id, key)
                elif held.first_pending or await self._inbox.is_next(held):
                    await self._run(held)
                else:  # an earlier update of this chat is still running, maybe in another replica
                    queue.items.appendleft(held)
                    await asyncio.sleep(ORDER_POLL_SECONDS)
        finally:
            for delivery in queue.items:
                self._held.pop(delivery.id, None)  # cancelled: left for the next process
            del self._queues[key]
            if not self._queues:
                self._idle.set()

    async def _run(self, delivery: Delivery) -> None:
        receipt = Receipt(delivery.id)
        try:
            if delivery.attempts > MAX_ATTEMPTS:
                log.error("giving up update %s of %s after %d attempts", delivery.id, delivery.key, MAX_ATTEMPTS)
            else:
                await self._platforms[delivery.key.platform](delivery, receipt)
        except Exception:
            log.exception("update %s of %s failed", delivery.id, delivery.key)
        finally:
            self._held.pop(delivery.id, None)  # before ``done``: a closed row is no lost lease
        if not receipt.closed.is_set():  # the turn stored nothing (a command, an ignored message, a failure)
            await self._inbox.done(delivery.id)

    async def _sweep_forever(self, stopping: asyncio.Event) -> None:
        while await _pause(self._sweep_seconds, stopping):
            try:
                await self.sweep()
            except (SQLAlchemyError, OSError) as error:  # the database may be away a while: keep serving
                log.warning("inbox sweep failed, trying again: %s", error)

    async def _heartbeat(self, stopping: asyncio.Event) -> None:
        """Every third of the lease, renew the leases of all updates this process holds."""
        while await _pause(self._lease.total_seconds() / 3, stopping):
            if not self._held:
                continue
            beat = dict(self._held)
            try:
                kept = await self._inbox.renew_all(beat.values(), self._lease)
            except (SQLAlchemyError, OSError) as error:
                log.warning("lease heartbeat failed, trying again: %s", error)
                continue
            for row_id, sent in beat.items():
                if self._held.get(row_id) is not sent:
                    continue  # finished (or dropped) meanwhile
                if row_id in kept:
                    self._held[row_id] = kept[row_id]
                else:  # our lease ran out (the database was away) and another process took it
                    log.error("lost the lease of update %s of %s to another process", row_id, sent.key)
                    del self._held[row_id]


async def _pause(seconds: float, stopping: asyncio.Event) -> bool:
    """Wait ``seconds``, or less when asked to stop; whether to go on."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return not stopping.is_set()


async def _finish(loop: asyncio.Task[None], stopping: asyncio.Event) -> None:
    stopping.set()
    await loop
