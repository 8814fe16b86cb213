"""Several replicas on one database, as separate processes: dedupe, per-chat order, pauses, takeover,
the lease heartbeat, and a reindex that is not run twice.

Each replica is ``tests/replica.py``: the real store, inbox and dispatcher, driven
through stdin. The database is a fresh one, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.runtime.jobs import BUSY
from storage.models import InboxItem
from storage.store import ChatKey, Store

SCRIPT = Path(__file__).with_name("replica.py")
REPO = SCRIPT.parents[1]
WAIT = 20.0  # seconds any one answer of a replica may take


class Replica:
    """A replica process: send it a command, wait for the line that answers it."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.lines: list[str] = []
        self._unread: asyncio.Queue[str] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, url: str, name: str, *options: str) -> Replica:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            url,
            name,
            *options,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        replica = cls(name, process)
        await replica.expect("ready")
        return replica

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()

    async def expect(self, prefix: str) -> str:
        """The next line starting with ``prefix`` (other lines stay in :attr:`lines`)."""
        while True:
            line = await asyncio.wait_for(self._unread.get(), WAIT)
            if line.startswith(prefix):
                return line

    async def submit(self, chat: str, message_id: str, text: str) -> bool:
        await self.send(f"submit {chat} {message_id} {text}")
        return (await self.expect(f"submitted {message_id} ")).endswith(" 1")

    def ran(self) -> list[tuple[str, int]]:
        """(message id, attempt) of every turn this replica finished."""
        return [(parts[1], int(parts[2])) for parts in (line.split() for line in self.lines) if parts[0] == "ran"]

    async def quit(self) -> None:
        await self.send("quit")
        assert await asyncio.wait_for(self.process.wait(), WAIT) == 0

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := (await self.process.stdout.readline()).decode():
            self.lines.append(line.strip())
            self._unread.put_nowait(line.strip())


@pytest.fixture
async def replicas(backend_url: str) -> AsyncIterator[tuple[Replica, Replica]]:
    first, second = await asyncio.gather(Replica.start(backend_url, "a"), Replica.start(backend_url, "b"))
    try:
        yield first, second
    finally:
        for replica in (first, second):
            replica.kill()
            await replica.process.wait()


async def _history(url: str, chat: str) -> list[str]:
    store = await Store.open(url)
    try:
        return [f"{m.role}: {m.content}" for m in await store.history(ChatKey("telegram", chat), 100)]
    finally:
        await store.close()


def _dialogue(*texts: str) -> list[str]:
    return [line for text in texts for line in (f"user: {text}", f"assistant: Antwort: {text}")]


async def _idle(*replicas: Replica) -> None:
    for replica in replicas:
        await replica.send("idle")
    await asyncio.gather(*(replica.expect("idle") for replica in replicas))


async def test_replicas_answer_each_update_once_in_chat_order(
    replicas: tuple[Replica, Replica], backend_url: str
) -> None:
    a, b = replicas
    chats, count = ("c1", "c2", "c3"), 6
    # The load balancer spreads a chat's messages over both replicas, and the platform
    # re-delivers every message to the other one as well.
    for n in range(count):
        for i, chat in enumerate(chats):
            first, other = (a, b) if (n + i) % 2 == 0 else (b, a)
            assert await first.submit(chat, f"{chat}-{n}", f"{chat}-{n}") is True
            assert await other.submit(chat, f"{chat}-{n}", f"{chat}-{n}") is False
    # Both replicas receive the same messages at the same moment: one of them stores each.
    for n in range(count):
        stored = await asyncio.gather(a.submit("r", f"r-{n}", f"r-{n}"), b.submit("r", f"r-{n}", f"r-{n}"))
        assert sorted(stored) == [False, True]
    await _idle(a, b)

    ran = Counter(message_id for replica in (a, b) for message_id, _ in replica.ran())
    expected = {f"{chat}-{n}" for chat in (*chats, "r") for n in range(count)}
    assert set(ran) == expected and set(ran.values()) == {1}  # each once, none lost
    assert a.ran() and b.ran()  # both did work
    for chat in (*chats, "r"):  # whole turns one after the other, in arrival order
        assert await _history(backend_url, chat) == _dialogue(*(f"{chat}-{n}" for n in range(count)))
    await asyncio.gather(a.quit(), b.quit())


async def test_a_question_asked_by_one_replica_is_resumed_by_the_other(
    replicas: tuple[Replica, Replica], backend_url: str
) -> None:
    a, b = replicas
    assert await a.submit("p", "q1", "?Welches Gerät")
    assert await b.submit("p", "q2", "WPL 25")  # arrives at once: must wait for the question's turn
    await _idle(a, b)
    assert await _history(backend_url, "p") == [
        "user: ?Welches Gerät",
        "assistant: Frage: Welches Gerät",
        "user: WPL 25",
        "assistant: weiter: Welches Gerät -> WPL 25",
    ]
    assert a.ran() == [("q1", 1)] and b.ran() == [("q2", 1)]
    store = await Store.open(backend_url)
    try:
        assert await store.pause(ChatKey("telegram", "p")) is None
    finally:
        await store.close()
    await asyncio.gather(a.quit(), b.quit())


async def test_a_replica_killed_mid_turn_is_taken_over_by_another(
    replicas: tuple[Replica, Replica], backend_url: str
) -> None:
    a, b = replicas
    # k1's lease (3 s) outlasts the survivors' (2 s): k2 must keep renewing its own while it waits.
    doomed = await Replica.start(backend_url, "c", "--hang-on", "kaputt", "--lease", "3")
    try:
        assert await doomed.submit("k", "k1", "kaputt")
        await doomed.expect("hanging k1")
        assert await b.submit("k", "k2", "danach")  # a later message of the same chat, elsewhere
        os.kill(doomed.process.pid, signal.SIGKILL)
        await doomed.process.wait()
        await _idle(a, b)
    finally:
        doomed.kill()
    # k2 waited for k1 (whose process lived, then died) instead of running first
    assert await _history(backend_url, "k") == _dialogue("kaputt", "danach")
    takeovers = [(message_id, attempt) for r in (a, b) for message_id, attempt in r.ran() if message_id == "k1"]
    assert takeovers == [("k1", 2)]  # the second attempt, by exactly one survivor
    assert [(r.name, m, n) for r in (a, b) for m, n in r.ran() if m == "k2"] == [("b", "k2", 1)]
    await asyncio.gather(a.quit(), b.quit())


async def _lease_of(url: str, message_id: str) -> tuple[float, int]:
    """How far past its creation an update's lease reaches (seconds), and its attempts."""
    store = await Store.open(url)
    try:
        async with store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(InboxItem.created_at, InboxItem.lease_until, InboxItem.attempts).where(
                        InboxItem.message_id == message_id
                    )
                )
            ).one()
    finally:
        await store.close()
    created, until, attempts = row
    return (until - created).total_seconds(), attempts


async def _lease_reaches(url: str, message_id: str, seconds: float) -> tuple[float, int]:
    """Wait until the update's lease reaches ``seconds`` past its creation, or another
    process took it (attempts > 1); both figures then."""
    for _ in range(int(WAIT / 0.1)):
        reach, attempts = await _lease_of(url, message_id)
        if reach >= seconds or attempts > 1:
            break
        await asyncio.sleep(0.1)
    return reach, attempts


async def test_a_replica_killed_mid_turn_and_mid_reindex_answers_once_and_reindexes_once(
    backend_url: str, tmp_path: Path
) -> None:
    lease = 1.0
    options = ("--lease", str(lease), "--data", str(tmp_path))  # one host: one build lock
    doomed, survivor = await asyncio.gather(
        Replica.start(backend_url, "c", "--hang-on", "kaputt", *options), Replica.start(backend_url, "b", *options)
    )
    try:
        assert await doomed.submit("admin", "r1", "/reindex")
        await doomed.expect("reindexing r1")  # the turn only started the job…
        await doomed.expect("building c")  # …which now holds the build lock
        assert await survivor.submit("admin", "r2", "/reindex")  # a second admin, another replica
        await survivor.expect(f"note b {BUSY}")  # the other replica's build holds the lock
        assert await doomed.submit("k", "k1", "kaputt")
        await doomed.expect("hanging k1")
        assert await survivor.submit("k", "k2", "danach")
        # The heartbeat carries k1's lease well past its first expiry while its replica lives…
        reach, attempts = await _lease_reaches(backend_url, "k1", 3 * lease)
        assert reach >= 3 * lease and attempts == 1  # …so nobody took it over
        os.kill(doomed.process.pid, signal.SIGKILL)  # mid-turn and mid-reindex
        await doomed.process.wait()
        await _idle(survivor)
    finally:
        doomed.kill()
    assert await _history(backend_url, "k") == _dialogue("kaputt", "danach")
    assert [r for r in survivor.ran() if r[0] == "k1"] == [("k1", 2)]  # answered once, by the survivor
    builds = [line for r in (doomed, survivor) for line in r.lines if line.startswith("building ")]
    assert builds == ["building c"]  # the /reindex turn was over: nobody ran it again
    assert [line for line in survivor.lines if line.startswith(("reindexing", "busy"))] == ["reindexing r2"]
    await survivor.quit()
