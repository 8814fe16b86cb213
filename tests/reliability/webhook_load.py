"""A webhook load run: ``nik serve`` in its own process, updates POSTed at a fixed rate.

The serving process talks to a fake Telegram Bot API and an instant scripted model,
both in this process on loopback. Each update goes to one of ``chats`` private
chats; the run measures the time to the webhook's acknowledgement, counts non-2xx
answers, then waits until every update has its answer and counts the lost and the
duplicated ones. Used by ``tests/reliability/test_webhook_load.py`` (short) and
``bench/webhook_load.py`` (the full 60 s).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from serve_process import inbox_drained, serve_env, start_serve, stop_serve
from telegram_fake import FakeTelegram

from fakes import ScriptedOpenAI, Text

SECRET = "load-secret_42"
ANSWER = "E013 ist ein Isolationsfehler [SolarFux SF-5000TL Handbuch, S. 7]."
PATH = "/telegram/webhook"


@dataclass(frozen=True, slots=True)
class LoadResult:
    sent: int
    seconds: float
    ack_p50_ms: float
    ack_p95_ms: float
    ack_max_ms: float
    non_2xx: int
    answered: int
    lost: int
    duplicated: int
    drain_seconds: float  # after the last POST, until every answer was out
    server_rss_mb: float

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def run_load(
    data_dir: Path, *, rate: float, seconds: float, chats: int = 100, drain_timeout: float = 120.0
) -> LoadResult:
    total = int(rate * seconds)
    port = _free_port()
    log = data_dir / "serve-load.log"
    script = [Text(ANSWER) for _ in range(total * 4 + 50)]  # answers and the summaries of long chats
    async with FakeTelegram() as api, ScriptedOpenAI(script) as llm:
        env = serve_env(
            data_dir,
            api,
            llm,
            TELEGRAM_WEBHOOK_URL=f"https://nik.example.org{PATH}",
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            NIK_PORT=str(port),
            NIK_RATE_LIMIT="0",
        )
        server = start_serve(env, log)
        try:
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                await _wait_ready(http, base, server, log)
                updates = [api.message(1000 + n % chats, text=f"Was bedeutet E013? ({n})") for n in range(total)]
                latencies: list[float] = []
                statuses: list[int] = []

                async def post(update: dict[str, Any]) -> None:
                    started = time.perf_counter()
                    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                    try:
                        async with http.post(f"{base}{PATH}", json=update, headers=headers) as response:
                            statuses.append(response.status)
                    except aiohttp.ClientError:
                        statuses.append(599)
                    latencies.append(time.perf_counter() - started)

                started = time.perf_counter()
                tasks = []
                for n, update in enumerate(updates):  # open loop: a fixed rate, whatever the answers take
                    await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
                    tasks.append(asyncio.create_task(post(update)))
                await asyncio.gather(*tasks)
                sent_for = time.perf_counter() - started
                drain_start = time.perf_counter()

                def answers() -> int:
                    return sum(ANSWER[:20] in text for text in api.texts())

                deadline = time.monotonic() + drain_timeout
                while answers() < total and time.monotonic() < deadline and server.poll() is None:
                    await asyncio.sleep(0.1)
                drain = time.perf_counter() - drain_start
                if server.poll() is None:  # every update closed: no late duplicate can come after this
                    await inbox_drained(data_dir, timeout=drain_timeout)
            per_chat: dict[int, int] = {}
            for params in api.of("sendMessage"):
                if ANSWER[:20] in params["text"]:
                    per_chat[params["chat_id"]] = per_chat.get(params["chat_id"], 0) + 1
            expected = {1000 + c: len(range(c, total, chats)) for c in range(min(chats, total))}
            lost = sum(max(0, want - per_chat.get(chat, 0)) for chat, want in expected.items())
            duplicated = sum(max(0, got - expected.get(chat, 0)) for chat, got in per_chat.items())
            rss = _rss_mb(server.pid)
        finally:
            stop_serve(server)
    ms = [value * 1000 for value in latencies]
    return LoadResult(
        sent=total,
        seconds=round(sent_for, 1),
        ack_p50_ms=round(_percentile(ms, 0.5), 1),
        ack_p95_ms=round(_percentile(ms, 0.95), 1),
        ack_max_ms=round(max(ms, default=0.0), 1),
        non_2xx=sum(not 200 <= status < 300 for status in statuses),
        answered=sum(per_chat.values()),
        lost=lost,
        duplicated=duplicated,
        drain_seconds=round(drain, 1),
        server_rss_mb=round(rss, 1),
    )


async def _wait_ready(http: aiohttp.ClientSession, base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise RuntimeError(f"nik serve exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            async with http.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("nik serve did not become ready in 60 s")
