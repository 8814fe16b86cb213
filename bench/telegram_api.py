"""The fake Bot API of the tests, served from a process of its own for ``bench/telegram.py``.

Telegram is not in the bot's process, and the fake should not be either: in one
process its own work (answering ``getUpdates``, recording calls) runs on the loop
of the bot under test and delays whatever that bot waits for on another thread
(Nik's SQLite writes), which the bare echo bot never does. Run as a script, it
prints the Bot API's port and the control port on the first line of stdout and serves until stdin closes.

On a port of their own it answers three control requests of the bench, timed on its
clock (``time.monotonic``, one clock per machine):

* ``POST /turn {"chat": n, "text": "/help"}`` pushes a message and answers,
  once the bot's ``sendMessage`` to that chat arrives, ``{"ms": <push → send>}``;
* ``POST /push {"messages": [{"chat": n, "user": u, "text": t}, …]}`` pushes them at once;
* ``POST /wait {"first": n, "expected": k, "timeout": s}`` answers once ``k``
  ``sendMessage`` calls to chats ``≥ n`` arrived: ``{"answers": {chat: [texts]}, "last_at": t}``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # this folder has a telegram.py
sys.path.insert(0, str(HERE.parent / "tests" / "adapters"))
sys.path.insert(0, str(HERE.parent / "tests"))

from fakes import start_on_loopback  # noqa: E402
from telegram_fake import FakeTelegram  # noqa: E402


@dataclass
class BenchTelegram(FakeTelegram):
    """The fake, telling waiters when a message arrives."""

    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        result = await super()._m_sendMessage(params)
        async with self.arrived:
            self.arrived.notify_all()
        return result

    def answers_after(self, seen: int, first: int) -> list[tuple[int, str, float]]:
        return [
            (c.params["chat_id"], c.params.get("text", ""), c.at)
            for c in self.calls[seen:]
            if c.method == "sendMessage" and int(c.params.get("chat_id", 0)) >= first
        ]


async def _serve(api: BenchTelegram, stop: asyncio.Event) -> None:
    async def turn(request: web.Request) -> web.Response:
        body = await request.json()
        chat = int(body["chat"])
        seen = len(api.calls)
        api.push(api.message(chat, text=body.get("text", "/help"), user_id=chat))
        pushed = time.monotonic()

        def answered() -> float | None:
            return next((at for c, _, at in api.answers_after(seen, chat) if c == chat), None)

        async with api.arrived:
            await asyncio.wait_for(api.arrived.wait_for(lambda: answered() is not None), 30)
        at = answered()
        assert at is not None
        return web.json_response({"ms": (at - pushed) * 1000})

    async def push(request: web.Request) -> web.Response:
        for message in (await request.json())["messages"]:
            api.push(api.message(int(message["chat"]), text=message["text"], user_id=int(message["user"])))
        return web.json_response({"at": time.monotonic()})

    async def wait(request: web.Request) -> web.Response:
        body = await request.json()
        first, expected = int(body["first"]), int(body["expected"])
        async with api.arrived:
            await asyncio.wait_for(
                api.arrived.wait_for(lambda: len(api.answers_after(0, first)) >= expected), float(body["timeout"])
            )
        found = api.answers_after(0, first)
        answers: dict[str, list[str]] = {}
        for chat, text, _ in found:
            answers.setdefault(str(chat), []).append(text)
        return web.json_response({"answers": answers, "last_at": max(at for _, _, at in found)})

    control = web.Application()
    control.router.add_post("/turn", turn)
    control.router.add_post("/push", push)
    control.router.add_post("/wait", wait)
    async with api:
        runner, port = await start_on_loopback(control)
        print(api.root.rsplit(":", 1)[1], port, flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


async def _main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.readline() else None)
    await _serve(BenchTelegram(), stop)


if __name__ == "__main__":
    asyncio.run(_main())
