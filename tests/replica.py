"""One Nik replica for ``test_replicas``: the real store, inbox and dispatcher on a shared database.

Run as ``python tests/replica.py DATABASE_URL NAME [--hang-on TEXT] [--lease SECONDS] [--data DIR]``.
It reads commands from stdin, one a line, and answers on stdout:

* ``submit CHAT MESSAGE_ID TEXT…`` → ``submitted MESSAGE_ID 1`` (stored, will run) or ``… 0`` (a re-delivery)
* ``idle`` → ``idle`` once no update is pending in the database (any process's)
* ``quit`` → stops the dispatcher, closes the store, exits 0

A turn reads like the conversation core (``turn_state``), takes a while, then stores
the user's text, its answer and the pause change in one write that closes the update
(``save_turn`` with its receipt): ``?Frage`` asks back (a durable pause), the next
message of that chat resumes the pause, anything else gets ``Antwort: TEXT``. It prints ``ran MESSAGE_ID ATTEMPTS``
when done; a turn whose text is the ``--hang-on`` text prints ``hanging MESSAGE_ID``
and never finishes (the test kills the process there).

``/reindex`` is Nik's real background job (``bot.runtime.jobs``) over a stand-in
build that holds the real build lock (``DIR/index.lock``, shared by the replicas of
this host) until ``finish`` is sent: the turn prints ``reindexing MESSAGE_ID`` when
it started the job (``busy MESSAGE_ID`` when one runs here already) and ends; the
build prints ``building NAME``; the job's note prints ``note NAME TEXT``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast

from bot.core.messages import Progress
from bot.runtime.dispatcher import Dispatcher
from bot.runtime.jobs import Jobs
from knowledge.models import IndexProgress, IndexReport
from storage.inbox import Delivery, Inbox
from storage.store import ChatKey, NewMessage, Pause, PauseChange, Receipt, Store, utc_now

if TYPE_CHECKING:
    from knowledge.service import KnowledgeBase

TURN_SECONDS = 0.03  # long enough that an unordered second turn of the chat would slip in between


def say(line: str) -> None:
    print(line, flush=True)


class SlowBuild:
    """Stands in for ``KnowledgeBase.index``: holds the build lock until told to finish."""

    def __init__(self, name: str, data: Path) -> None:
        self.name = name
        self.lock = data / "index.lock"
        self.finish = threading.Event()

    def index(self, paths: Iterable[Path], progress: Callable[[IndexProgress], None] | None = None) -> IndexReport:
        from knowledge.index import exclusive_build  # here: LanceDB takes seconds to import, replicas start at once

        with exclusive_build(self.lock):
            say(f"building {self.name}")
            if progress is not None:
                progress(IndexProgress(0, 1, 0, 1))
            self.finish.wait()
        return IndexReport(documents=1, pages=1, chunks=1, version=2)


async def serve(url: str, name: str, hang_on: str | None, lease: float, data: Path) -> None:
    store = await Store.open(url)
    inbox = Inbox(store.engine)
    build = SlowBuild(name, data)
    jobs = Jobs(cast("KnowledgeBase", build), data, progress_seconds=0.05)

    async def note(progress: Progress) -> None:
        say(f"note {name} {progress.text}")

    async def turn(delivery: Delivery, receipt: Receipt) -> None:
        text, key = delivery.payload["text"], delivery.key
        if text == "/reindex":
            started = jobs.start_reindex(note)
            say(f"{'reindexing' if started else 'busy'} {delivery.message_id}")
            return
        if text == hang_on:
            say(f"hanging {delivery.message_id}")
            await asyncio.Event().wait()
        pause = (await store.turn_state(key, 6)).pause
        await asyncio.sleep(TURN_SECONDS)
        change: PauseChange = "keep"
        if text.startswith("?"):
            now = utc_now()
            change = Pause("u1", text[1:], (), {"asked_by": name}, delivery.message_id, now, now + timedelta(hours=1))
            reply = f"Frage: {text[1:]}"
        elif pause is not None:
            change = "clear"
            reply = f"weiter: {pause.question} -> {text}"
        else:
            reply = f"Antwort: {text}"
        asked = NewMessage("user", text, platform_message_id=delivery.message_id)
        await store.save_turn(key, [asked, NewMessage("assistant", reply)], pause=change, receipt=receipt)
        say(f"ran {delivery.message_id} {delivery.attempts}")

    dispatcher = Dispatcher(inbox, lease=timedelta(seconds=lease), sweep_seconds=0.2)
    dispatcher.register("telegram", turn)
    await dispatcher.start()
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    say("ready")
    try:
        while line := (await reader.readline()).decode():
            command, *args = line.split(maxsplit=3)
            if command == "submit":
                chat, message_id, text = args
                stored = await dispatcher.submit(ChatKey("telegram", chat), message_id, {"text": text.strip()})
                say(f"submitted {message_id} {int(stored)}")
            elif command == "idle":
                while await inbox.pending():
                    await asyncio.sleep(0.05)
                say("idle")
            elif command == "finish":
                build.finish.set()
            elif command == "quit":
                break
    finally:
        build.finish.set()
        await jobs.stop()
        await dispatcher.stop(grace=1)
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("--hang-on")
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--data", type=Path, default=Path("."))
    args = parser.parse_args()
    asyncio.run(serve(args.url, args.name, args.hang_on, args.lease, args.data))


if __name__ == "__main__":
    main()
