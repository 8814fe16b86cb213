"""Turn overhead of the conversation core: offline, and with an instant LLM.

* **Offline question turn**: the real core with the offline engine over the sample
  manual and SQLite. The engine is timed from outside (a wrapper that implements the
  ``Engine`` protocol), so the figure is the turn's own cost outside search and
  answering: gate, the one read, the one write, history, citations. Target p50 ≤ 5 ms.
* **LLM turn**: the project's scripted OpenAI-compatible server on 127.0.0.1
  (``tests/fakes.py``, streaming like the real API) answers at once: a
  ``search_knowledge`` call, then a final answer citing the sample manual. Every turn
  goes through storage, the agent loop, one real search, citations, history. Target
  p50 ≤ 40 ms. Then 100 chats at once (all must complete; their latency spread shows
  whether chats wait for each other).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _common import emit, percentile
from fakes import Calls, ScriptedOpenAI, Text

from bot.config import SAMPLE_MANUALS, load_settings
from bot.core.conversation import Conversation
from bot.core.messages import Answer, IncomingMessage
from bot.core.turn import Engine, EngineResult, HistoryItem, Turn
from bot.runtime.composition import open_nik

TARGET_OFFLINE_OVERHEAD_MS = 5.0
TARGET_P50_MS = 40.0
TITLE = "SolarFux SF-5000TL Installations- und Bedienungsanleitung"
QUESTION = "Was bedeutet E013?"


class TimedEngine:
    """An ``Engine`` that delegates and adds up the time spent inside ``answer``."""

    def __init__(self, inner: Engine) -> None:
        self._inner = inner
        self.seconds = 0.0

    @property
    def summarizes(self) -> bool:
        return self._inner.summarizes

    async def answer(self, turn: Turn) -> EngineResult:
        started = time.perf_counter()
        try:
            return await self._inner.answer(turn)
        finally:
            self.seconds += time.perf_counter() - started

    async def summarize(self, summary: str | None, dropped: tuple[HistoryItem, ...]) -> str | None:
        return await self._inner.summarize(summary, dropped)


def _environment(data: str, extra: dict[str, str]) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "NIK_LLM_MODEL", "COHERE_API_KEY"):
        os.environ.pop(name, None)
    os.environ.update({"NIK_DATA_DIR": data, "NIK_MANUALS_DIR": str(SAMPLE_MANUALS), "NIK_RATE_LIMIT": "0", **extra})


def _turn(conversation: Conversation, *, cited: bool = True) -> Callable[[str, int], Awaitable[float]]:
    async def one(chat: str, number: int) -> float:
        message = IncomingMessage("telegram", chat, "u1", "Bench", f"{chat}-{number}", QUESTION)
        started = time.perf_counter()
        replies = [r async for r in conversation.handle(message)]
        elapsed = (time.perf_counter() - started) * 1000
        if not any(isinstance(r, Answer) and r.kind == "answer" and (r.citations or not cited) for r in replies):
            raise RuntimeError(f"turn without a cited answer: {replies}")
        return elapsed

    return one


async def measure_offline(turns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        _environment(data, {})
        settings = load_settings()
        async with open_nik(settings) as nik:
            await asyncio.to_thread(nik.knowledge.index, [settings.manuals_dir])
            timed = TimedEngine(nik.engine)
            conversation = Conversation(nik.store, timed, nik.commands, window=settings.history_window)
            one = _turn(conversation)
            for warm in range(3):
                await one("warmup", warm)
            totals, overheads = [], []
            for number in range(turns):
                before = timed.seconds
                total = await one("solo", number)
                totals.append(total)
                overheads.append(total - (timed.seconds - before) * 1000)
    return {
        "turn_ms": {"p50": round(statistics.median(totals), 2), "p95": round(percentile(totals, 95), 2)},
        "overhead_ms": {"p50": round(statistics.median(overheads), 2), "p95": round(percentile(overheads, 95), 2)},
        "n": turns,
        "target_overhead_p50_ms": TARGET_OFFLINE_OVERHEAD_MS,
        "target_met": statistics.median(overheads) <= TARGET_OFFLINE_OVERHEAD_MS,
    }


async def measure_llm(turns: int, chats: int) -> dict[str, Any]:
    count = 3 + turns + chats
    step = [Calls(("search_knowledge", {"query": "E013"})), Text(f"Fehlerstrom zu hoch [{TITLE}, S. 8].")]
    async with ScriptedOpenAI(step * count) as api:
        with tempfile.TemporaryDirectory() as data:
            _environment(data, {"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": api.base_url, "NIK_LLM_MODEL": "instant"})
            settings = load_settings()
            async with open_nik(settings) as nik:
                await asyncio.to_thread(nik.knowledge.index, [settings.manuals_dir])
                one = _turn(nik.conversation)
                for warm in range(3):
                    await one("warmup", warm)
                sequential = [await one(f"solo-{n}", n) for n in range(turns)]  # no summaries take script steps
                # the script is one list that concurrent turns would take each other's steps from:
                # here each turn is one final answer (uncited, as no search ran)
                api.script[:] = [Text("Bitte den Fehlerstrom prüfen.")] * chats
                many = _turn(nik.conversation, cited=False)
                started = time.perf_counter()
                parallel = await asyncio.gather(*(many(f"chat-{c}", 0) for c in range(chats)))
                wall = (time.perf_counter() - started) * 1000
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


async def measure(turns: int, chats: int) -> dict[str, Any]:
    return {"offline": await measure_offline(turns), "llm": await measure_llm(turns, chats)}


def print_human(result: dict[str, Any]) -> None:
    offline, llm = result["offline"], result["llm"]
    verdict = "met" if offline["target_met"] else "NOT met"
    print(
        f"offline question turn: p50 {offline['turn_ms']['p50']} ms in all; outside search and answering "
        f"p50 {offline['overhead_ms']['p50']} ms, p95 {offline['overhead_ms']['p95']} ms over {offline['n']} "
        f"(target p50 ≤ {offline['target_overhead_p50_ms']:.0f} ms: {verdict})"
    )
    turn, many = llm["turn_ms"], llm["concurrent"]
    verdict = "met" if llm["target_met"] else "NOT met"
    print(
        f"LLM turn (search + answer, instant model): p50 {turn['p50']} ms, p95 {turn['p95']} ms over {turn['n']} "
        f"(target p50 ≤ {llm['target_p50_ms']:.0f} ms: {verdict})"
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
