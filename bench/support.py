"""The hand-off round trip against the fake Bot API on 127.0.0.1 (tests/adapters/telegram_fake.py).

One round: a technician (a new private chat each round) sends ``/support TEXT``; Nik posts
the case to the support group; an agent replies to that case message; Nik relays the reply
to the technician. Measured from the fake's call log, per round:

* **open**: ``/support`` available to ``getUpdates`` → the case message's ``sendMessage``;
* **reply**: the agent's reply available → the relayed ``sendMessage`` in the technician's chat;
* **round trip**: open + reply (the agent's own reading time left out).

Real ``nik serve`` (polling, inbox, dispatcher, SQLite, the conversation core and the
support desk), offline engine; no index is needed for a case without history.

Telegram allows a bot about 20 messages a minute in one group, and PTB's rate limiter
keeps to that: every case is a message in the support group, so more than ~20 rounds a
minute measure the limiter's waits (about 3 s each), not Nik. The default stays under it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# bench/telegram.py would shadow the library: import it before the bench folder is on the path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import telegram  # noqa: E402, F401

sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "adapters"))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import emit, percentile  # noqa: E402
from telegram_fake import TOKEN, FakeTelegram  # noqa: E402

from adapters.serve import running  # noqa: E402
from adapters.telegram import TelegramPlatform  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.runtime.composition import Nik  # noqa: E402

SUPPORT = -100900
AGENT = 7
FIRST_CHAT = 1_000_000


def _sent_at(api: FakeTelegram, chat_id: int, index: int) -> tuple[float, dict[str, Any]] | None:
    """When the fake received the ``index``-th sendMessage to ``chat_id``, and its result."""
    calls = [c for c in api.calls if c.method == "sendMessage" and c.params.get("chat_id") == chat_id]
    if len(calls) <= index:
        return None
    return calls[index].at, dict(calls[index].params["__result__"])


async def _round(api: FakeTelegram, chat: int, number: int) -> tuple[float, float]:
    api.push(api.message(chat, text=f"/support Runde {number}: Display bleibt dunkel", user_id=chat))
    pushed = time.monotonic()
    await api.wait_for(lambda: _sent_at(api, SUPPORT, number) is not None, timeout=30)
    found = _sent_at(api, SUPPORT, number)
    assert found is not None
    posted, case = found
    api.push(api.message(SUPPORT, text="Bitte Sicherung prüfen", user_id=AGENT, reply_to=case))
    replied = time.monotonic()
    await api.wait_for(
        lambda: any(t.startswith("Support (") for t in api.texts(chat)),
        timeout=30,
    )
    relayed = next(
        c.at
        for c in api.calls
        if c.method == "sendMessage" and c.params.get("chat_id") == chat and c.params["text"].startswith("Support (")
    )
    return (posted - pushed) * 1000, (relayed - replied) * 1000


async def measure(rounds: int, warm_up: int) -> dict[str, Any]:
    async with FakeTelegram() as api:
        api.chat(SUPPORT, "supergroup")
        with tempfile.TemporaryDirectory() as data:
            settings = Settings.model_validate(
                {
                    "NIK_DATA_DIR": data,
                    "TELEGRAM_BOT_TOKEN": TOKEN,
                    "TELEGRAM_API_BASE_URL": api.root,
                    "NIK_HOST": "127.0.0.1",
                    "NIK_PORT": 0,
                    "NIK_SUPPORT_CHAT": f"telegram:{SUPPORT}",
                    "NIK_RATE_LIMIT": 0,
                }
            )

            def platform(nik: Nik) -> TelegramPlatform:
                return TelegramPlatform(nik, poll_timeout=25.0)

            async with running(settings, factories=[platform]):
                opens, replies = [], []
                for n in range(warm_up + rounds):
                    opened, replied = await _round(api, FIRST_CHAT + n, n)
                    if n >= warm_up:
                        opens.append(opened)
                        replies.append(replied)
    totals = [a + b for a, b in zip(opens, replies, strict=True)]

    def stats(values: list[float]) -> dict[str, float]:
        return {"p50": round(statistics.median(values), 1), "p95": round(percentile(values, 95), 1)}

    return {"rounds": rounds, "open_ms": stats(opens), "reply_ms": stats(replies), "round_trip_ms": stats(totals)}


def print_human(result: dict[str, Any]) -> None:
    print(f"hand-off round trip over {result['rounds']} rounds (fake Bot API, polling, SQLite):")
    for label, key in (
        ("/support → case in support chat", "open_ms"),
        ("agent reply → technician", "reply_ms"),
        ("round trip", "round_trip_ms"),
    ):
        print(f"  {label}: p50 {result[key]['p50']} ms, p95 {result[key]['p95']} ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)  # with the warm-up under 20 posts a minute
    parser.add_argument("--warm-up", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return emit(asyncio.run(measure(args.rounds, args.warm_up)), args.json, print_human)


if __name__ == "__main__":
    sys.exit(main())
