"""One Nik replica for ``test_replicas``: the real store, inbox and dispatcher on a shared database.

Run as ``python tests/replica.py DATABASE_URL NAME [--hang-on TEXT] [--lease SECONDS]``.
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
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta

from bot.runtime.dispatcher import Dispatcher
from storage.inbox import Delivery, Inbox
from storage.store import ChatKey, NewMessage, Pause, PauseChange, Receipt, Store, utc_now

TURN_SECONDS = 0.03  # long enough that an unordered second turn of the chat would slip in between


def say(line: str) -> None:
    print(line, flush=True)


async def serve(url: str, name: str, hang_on: str | None, lease: float) -> None:
    store = await Store.open(url)
    inbox = Inbox(store.engine)

    async def turn(delivery: Delivery, receipt: Receipt) -> None:
        text, key = delivery.payload["text"], delivery.key
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
            elif command == "quit":
                break
    finally:
        await dispatcher.stop(grace=1)
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("--hang-on")
    parser.add_argument("--lease", type=float, default=2.0)
    args = parser.parse_args()
    asyncio.run(serve(args.url, args.name, args.hang_on, args.lease))


if __name__ == "__main__":
    main()
