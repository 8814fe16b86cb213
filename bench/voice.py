"""Voice turn time against instant fakes on 127.0.0.1: what transcription adds to a turn.

Nik serves Telegram (long polling) against the fake Bot API (tests/adapters/telegram_fake.py);
one scripted OpenAI-compatible server (tests/fakes.py) answers both the chat completions and
``/audio/transcriptions`` at once. Sequential private turns, one new chat each, measured
from the moment the update is available to ``getUpdates``:

* **voice**: a 3 s OGG/Opus voice note → "🎤 Verstanden: …" (getFile, download,
  multipart upload, transcript) → the answer;
* **text**: the same question typed → the answer (the baseline).

The difference of the medians is what a voice note costs Nik itself (no real speech model).
"""

from __future__ import annotations

import argparse
import asyncio
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

from _common import emit, latency_summary, machine, machine_line  # noqa: E402
from fakes import ScriptedOpenAI, Text, Transcript  # noqa: E402
from ogg import ogg_opus  # noqa: E402
from telegram_fake import TOKEN, FakeTelegram  # noqa: E402

from adapters.serve import running  # noqa: E402
from adapters.telegram import TelegramPlatform  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.runtime.composition import Nik  # noqa: E402

QUESTION = "Was bedeutet Fehler E013?"
WARM_UP = 3


def _sent_at(api: FakeTelegram, chat: int, index: int) -> float:
    return [c.at for c in api.calls if c.method == "sendMessage" and c.params.get("chat_id") == chat][index]


async def _turns(api: FakeTelegram, count: int, first_chat: int, voice: bytes | None) -> dict[str, list[float]]:
    """ms from push to the transcript shown (voice only) and to the answer, per turn."""
    heard, answered = [], []
    replies = 2 if voice is not None else 1
    for n in range(count):
        chat = first_chat + n
        update = api.voice(chat, voice, seconds=3) if voice is not None else api.message(chat, text=QUESTION)
        api.push(update)
        pushed = time.monotonic()
        await api.wait_for(lambda chat=chat: len(api.texts(chat)) >= replies, timeout=30)
        if voice is not None:
            heard.append((_sent_at(api, chat, 0) - pushed) * 1000)
        answered.append((_sent_at(api, chat, replies - 1) - pushed) * 1000)
    return {"heard": heard, "answered": answered}


async def measure(turns: int) -> dict[str, Any]:
    runs = 2 * (turns + WARM_UP)
    audio = ogg_opus(3.0)
    script = [Text(f"Fehlerstrom zu hoch (Antwort {n}).") for n in range(runs)]
    speech = [Transcript(QUESTION) for _ in range(runs)]
    async with ScriptedOpenAI(script, speech=speech) as llm, FakeTelegram() as api:
        with tempfile.TemporaryDirectory() as data:
            settings = Settings.model_validate(
                {
                    "NIK_DATA_DIR": data,
                    "TELEGRAM_BOT_TOKEN": TOKEN,
                    "TELEGRAM_API_BASE_URL": api.root,
                    "NIK_HOST": "127.0.0.1",
                    "NIK_PORT": 0,
                    "OPENAI_API_KEY": "bench",
                    "OPENAI_BASE_URL": llm.base_url,
                    "NIK_LLM_MODEL": "instant",
                    "NIK_STT_MODEL": "whisper-1",
                    "NIK_RATE_LIMIT": 0,
                }
            )

            def platform(nik: Nik) -> TelegramPlatform:
                return TelegramPlatform(nik, poll_timeout=25.0)

            async with running(settings, factories=[platform]):
                await _turns(api, WARM_UP, 1_000_000, audio)
                await _turns(api, WARM_UP, 1_100_000, None)
                voice = await _turns(api, turns, 2_000_000, audio)
                text = await _turns(api, turns, 3_000_000, None)
    heard = latency_summary(voice["heard"])
    spoken = latency_summary(voice["answered"])
    typed = latency_summary(text["answered"])
    return {
        "turns": turns,
        "audio_bytes": len(audio),
        "voice_heard_ms": heard,
        "voice_answer_ms": spoken,
        "text_answer_ms": typed,
        "voice_overhead_p50_ms": round(spoken["p50_ms"] - typed["p50_ms"], 2),
        "transcriptions": len(llm.transcriptions),
        "machine": machine(),
    }


def print_human(result: dict[str, Any]) -> None:
    heard, spoken, typed = result["voice_heard_ms"], result["voice_answer_ms"], result["text_answer_ms"]
    print(f"private turns against instant fakes, {result['turns']} each, 3 s OGG/Opus ({result['audio_bytes']} bytes):")
    print(f"  voice: transcript shown p50 {heard['p50_ms']} ms (p95 {heard['p95_ms']})")
    print(f"  voice: answered p50 {spoken['p50_ms']} ms (p95 {spoken['p95_ms']})")
    print(f"  text:  answered p50 {typed['p50_ms']} ms (p95 {typed['p95_ms']})")
    print(f"  a voice note adds {result['voice_overhead_p50_ms']} ms at the median")
    print(f"  ({machine_line(result['machine'])})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return emit(asyncio.run(measure(args.turns)), args.json, print_human)


if __name__ == "__main__":
    sys.exit(main())
