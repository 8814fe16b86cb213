"""The Telegram adapter against the fake Bot API on 127.0.0.1 (tests/adapters/telegram_fake.py).

Figures, measured in one run:

* **Turn overhead for /help**: from the moment an update is available to
  ``getUpdates`` until the fake receives the ``sendMessage``, for a bare
  python-telegram-bot echo bot (PTB's own Updater, one CommandHandler) and for Nik
  (inbox, dispatcher, conversation core, rendering, PTB's rate limiter). Target: Nik
  ≤ 1.3× the echo bot (median over sequential turns, one new chat per turn). The two
  bots run side by side, each on a fake of its own, and their turns alternate.
* **100 chats × 5 messages** pushed at once through polling, with an instant
  scripted LLM: all answered, each chat's answers in the order of its messages.
  Telegram's own limits (30 messages/s overall; about 1/s within a chat) allow
  ``max(messages / 30, per_chat - 1)`` seconds at best. Target: ≤ 1.2× that.
* **RSS** of this process (which serves Nik and the scripted LLM).

The fake Bot API runs in a process of its own (``bench/telegram_api.py``), as
Telegram runs elsewhere: it times each turn on its own clock, from the push to
the ``sendMessage``, so neither its work nor the bench's waiting runs on the
loop of the bot under test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import tempfile
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

# This file is called telegram.py: import the library before the bench folder is on the path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
from telegram import Update  # noqa: E402
from telegram.ext import Application, CommandHandler, ContextTypes  # noqa: E402

sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "adapters"))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import emit, percentile  # noqa: E402
from fakes import completion_reply  # noqa: E402
from telegram_fake import TOKEN  # noqa: E402

from adapters.serve import running  # noqa: E402
from adapters.telegram import TelegramPlatform  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core.commands import HELP  # noqa: E402
from bot.runtime.composition import Nik  # noqa: E402

TARGET_RATIO = 1.3
TARGET_LOAD_RATIO = 1.2
OVERALL_PER_SECOND = 30  # Telegram's limit for one bot
GAP = 0.05  # seconds between sequential turns: stays under 30 messages/s overall


async def _instant(request: web.Request) -> web.StreamResponse:
    """An OpenAI-compatible answer at once, echoing the question (to check the order)."""
    body = await request.json()
    question = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    if isinstance(question, list):
        question = " ".join(p.get("text", "") for p in question if isinstance(p, dict))
    return await completion_reply(request, body, f"Antwort auf: {question}")


class RemoteApi:
    """The fake Bot API in a process of its own (``bench/telegram_api.py``), as Telegram is."""

    def __init__(self) -> None:
        self.root = ""
        self._control = ""
        self._process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RemoteApi:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "telegram_api.py"), stdin=PIPE, stdout=PIPE
        )
        assert self._process.stdout is not None
        api_port, control_port = (await self._process.stdout.readline()).split()
        self.root = f"http://127.0.0.1:{int(api_port)}"
        self._control = f"http://127.0.0.1:{int(control_port)}"
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._process is not None and self._process.stdin is not None and self._session is not None
        await self._session.close()
        self._process.stdin.close()  # the fake stops when its stdin closes
        await self._process.wait()

    async def ask(self, what: str, **body: Any) -> Any:
        assert self._session is not None
        async with self._session.post(f"{self._control}/{what}", json=body) as response:
            response.raise_for_status()
            return await response.json()


async def _turn(api: RemoteApi, chat: int) -> float:
    """One /help turn in a new chat: ms from the push to the fake receiving the answer."""
    ms = float((await api.ask("turn", chat=chat, text="/help"))["ms"])
    await asyncio.sleep(GAP)
    return ms


@contextlib.asynccontextmanager
async def _echo_bot(api: RemoteApi) -> AsyncIterator[None]:
    """A bare python-telegram-bot bot answering /help, polling ``api``."""

    async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(HELP)

    app = Application.builder().token(TOKEN).base_url(f"{api.root}/bot").base_file_url(f"{api.root}/file/bot").build()
    app.add_handler(CommandHandler("help", help_command))
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=25)
        await app.start()
        try:
            yield
        finally:
            await app.updater.stop()
            await app.stop()


async def measure(turns: int, chats: int, per_chat: int) -> dict[str, Any]:
    """Both bots run at once, each on a fake of its own; their /help turns alternate, so that a
    change in the machine's speed during the run (load, clock) falls on both alike."""
    llm = web.AppRunner(web.Application())
    llm.app.router.add_post("/v1/chat/completions", _instant)
    await llm.setup()
    await web.TCPSite(llm, "127.0.0.1", 0).start()
    llm_port = llm.addresses[0][1]
    first = 3_000_000
    echo: list[float] = []
    nik: list[float] = []
    async with RemoteApi() as echo_api, RemoteApi() as api, _echo_bot(echo_api):
        with tempfile.TemporaryDirectory() as data:
            settings = Settings.model_validate(
                {
                    "NIK_DATA_DIR": data,
                    "TELEGRAM_BOT_TOKEN": TOKEN,
                    "TELEGRAM_API_BASE_URL": api.root,
                    "NIK_HOST": "127.0.0.1",
                    "NIK_PORT": 0,
                    "OPENAI_API_KEY": "bench",
                    "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
                    "NIK_LLM_MODEL": "instant",
                }
            )

            def platform(nik: Nik) -> TelegramPlatform:
                return TelegramPlatform(nik, poll_timeout=25.0)

            async with running(settings, factories=[platform]):
                for n in range(3):  # warm-up
                    await _turn(echo_api, 900_000 + n)
                    await _turn(api, 1_900_000 + n)
                for n in range(turns):
                    echo.append(await _turn(echo_api, 1_000_000 + n))
                    nik.append(await _turn(api, 2_000_000 + n))
                messages = [
                    {"chat": first + c, "user": 5_000 + c, "text": f"Frage {m}"}
                    for m in range(per_chat)
                    for c in range(chats)
                ]
                started = (await api.ask("push", messages=messages))["at"]
                done = await api.ask("wait", first=first, expected=chats * per_chat, timeout=300)
                wall = done["last_at"] - started
    await llm.cleanup()
    answers: dict[str, list[str]] = done["answers"]
    in_order = all(_numbers(texts) == list(range(per_chat)) for texts in answers.values())
    sample = next(iter(answers.values()), [])
    ratio = statistics.median(nik) / statistics.median(echo)
    limit = max(chats * per_chat / OVERALL_PER_SECOND, per_chat - 1.0)
    return {
        "help_turn_ms": {
            "echo_bot": {"p50": round(statistics.median(echo), 2), "p95": round(percentile(echo, 95), 2)},
            "nik": {"p50": round(statistics.median(nik), 2), "p95": round(percentile(nik, 95), 2)},
            "n": turns,
        },
        "ratio": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "target_met": ratio <= TARGET_RATIO,
        "load": {
            "chats": chats,
            "messages_per_chat": per_chat,
            "answered": sum(len(t) for t in answers.values()),
            "in_order": in_order and len(answers) == chats,
            "wall_s": round(wall, 1),
            "messages_per_s": round(chats * per_chat / wall, 1),
            "limit_s": round(limit, 1),
            "ratio_to_limit": round(wall / limit, 2),
            "target_ratio": TARGET_LOAD_RATIO,
            "target_met": wall / limit <= TARGET_LOAD_RATIO,
        },
        "rss_mb": _rss_mb(),
        "sample_chat": sample,
    }


def _numbers(texts: list[str]) -> list[int]:
    """The question numbers the answers echo, in the order they were sent."""
    return [int(found.group(1)) for t in texts if (found := re.search(r"Frage (\d+)", t))]


def _rss_mb() -> dict[str, float]:
    found = {}
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
    return {"now": found.get("VmRSS", float("nan")), "peak": found.get("VmHWM", float("nan"))}


def print_human(result: dict[str, Any]) -> None:
    turn, load = result["help_turn_ms"], result["load"]
    verdict = "met" if result["target_met"] else "NOT met"
    print(
        f"/help turn: echo bot p50 {turn['echo_bot']['p50']} ms (p95 {turn['echo_bot']['p95']}), "
        f"Nik p50 {turn['nik']['p50']} ms (p95 {turn['nik']['p95']}) over {turn['n']} turns each"
    )
    print(f"ratio Nik / echo bot: {result['ratio']}× (target ≤ {result['target_ratio']}×: {verdict})")
    print(
        f"{load['chats']} chats × {load['messages_per_chat']} messages by polling: {load['answered']} answered "
        f"in {load['wall_s']} s ({load['messages_per_s']}/s), per-chat order {'kept' if load['in_order'] else 'BROKEN'}"
    )
    print(
        f"Telegram's limits allow {load['limit_s']} s: {load['ratio_to_limit']}× "
        f"(target ≤ {load['target_ratio']}×: {'met' if load['target_met'] else 'NOT met'})"
    )
    print(f"RSS: {result['rss_mb']['now']} MB now, {result['rss_mb']['peak']} MB peak")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--per-chat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return emit(asyncio.run(measure(args.turns, args.chats, args.per_chat)), args.json, print_human)


if __name__ == "__main__":
    sys.exit(main())
