"""Turn overhead and concurrency of the conversation core with an instant LLM.

An OpenAI-compatible responder on 127.0.0.1 answers at once: a ``search_knowledge``
tool call when the conversation has no tool result yet, else a final answer citing
page 8 of the sample manual. Every turn goes through the real core: storage
(SQLite), the agent loop, one real search, citations, history.

Figures: p50/p95 of one turn (target p50 ≤ 40 ms), and 100 chats sending at once
(all must complete; their latency spread shows whether chats wait for each other).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, percentile

from bot.config import SAMPLE_MANUALS, load_settings
from bot.core.messages import Answer, IncomingMessage
from bot.runtime.composition import open_nik

TARGET_P50_MS = 40.0
TITLE = "SolarFux SF-5000TL Installations- und Bedienungsanleitung"


async def _completions(request: web.Request) -> web.Response:
    body = await request.json()
    last = body["messages"][-1]
    if last["role"] == "tool":
        message: dict[str, Any] = {"role": "assistant", "content": f"Fehlerstrom zu hoch [{TITLE}, S. 8]."}
        finish = "stop"
    else:
        call = {
            "id": f"call_{time.monotonic_ns()}",
            "type": "function",
            "function": {"name": "search_knowledge", "arguments": json.dumps({"query": "E013"})},
        }
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    return web.json_response(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "instant",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )


async def measure(turns: int, chats: int) -> dict[str, Any]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    with tempfile.TemporaryDirectory() as data:
        os.environ.update(
            {
                "NIK_DATA_DIR": data,
                "NIK_MANUALS_DIR": str(SAMPLE_MANUALS),
                "OPENAI_API_KEY": "bench",
                "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
                "NIK_LLM_MODEL": "instant",
                "NIK_RATE_LIMIT": "0",  # one user asks many times in a row
            }
        )
        settings = load_settings()
        async with open_nik(settings) as nik:
            await asyncio.to_thread(nik.knowledge.index, [settings.manuals_dir])

            async def one(chat: str, number: int) -> float:
                message = IncomingMessage("telegram", chat, "u1", "Bench", f"{chat}-{number}", "Was bedeutet E013?")
                started = time.perf_counter()
                replies = [r async for r in nik.conversation.handle(message)]
                elapsed = (time.perf_counter() - started) * 1000
                if not any(isinstance(r, Answer) and r.citations for r in replies):
                    raise RuntimeError(f"turn without a cited answer: {replies}")
                return elapsed

            for warm in range(3):
                await one("warmup", warm)
            sequential = [await one("solo", n) for n in range(turns)]
            started = time.perf_counter()
            parallel = await asyncio.gather(*(one(f"chat-{c}", 0) for c in range(chats)))
            wall = (time.perf_counter() - started) * 1000
    await runner.cleanup()
    return {
        "turn_ms": {
            "p50": round(statistics.median(sequential), 1),
            "p95": round(percentile(sequential, 95), 1),
            "n": len(sequential),
        },
        "target_p50_ms": TARGET_P50_MS,
        "target_met": statistics.median(sequential) <= TARGET_P50_MS,
        "concurrent": {
            "chats": chats,
            "completed": len(parallel),
            "wall_ms": round(wall, 1),
            "p50_ms": round(statistics.median(parallel), 1),
            "max_ms": round(max(parallel), 1),
        },
    }


def print_human(result: dict[str, Any]) -> None:
    turn, many = result["turn_ms"], result["concurrent"]
    verdict = "met" if result["target_met"] else "NOT met"
    print(
        f"one turn (search + answer, instant LLM): p50 {turn['p50']} ms, p95 {turn['p95']} ms over {turn['n']} "
        f"(target p50 ≤ {result['target_p50_ms']:.0f} ms: {verdict})"
    )
    print(
        f"{many['chats']} chats at once: {many['completed']} completed in {many['wall_ms']} ms "
        f"(per turn p50 {many['p50_ms']} ms, max {many['max_ms']} ms)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return emit(asyncio.run(measure(args.turns, args.chats)), args.json, print_human)


if __name__ == "__main__":
    sys.exit(main())
