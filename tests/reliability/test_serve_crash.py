"""kill -9 of ``nik serve`` mid-turn: after a restart the message is answered exactly once.

Two real ``nik serve`` processes, one after the other, on one data dir, against a
fake Telegram Bot API and a scripted model on loopback. The first is killed with
SIGKILL while the model is still thinking about the question; the second takes the
stored update over once its lease has run out and answers it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

from serve_process import inbox_drained, serve_env, start_serve, stop_serve
from telegram_fake import FakeTelegram

from fakes import ScriptedOpenAI, Text

CHAT = 5151
ANSWER = "E013 ist ein Isolationsfehler [SolarFux SF-5000TL Handbuch, S. 7]."
LEASE_SECONDS = 3


def start_serving(kb_dir: Path, api: FakeTelegram, llm: ScriptedOpenAI, log: Path) -> subprocess.Popen[bytes]:
    env = serve_env(kb_dir, api, llm, NIK_TURN_LEASE_SECONDS=str(LEASE_SECONDS), NIK_LOG_LEVEL="INFO")
    return start_serve(env, log)


async def test_a_message_in_flight_when_serve_is_killed_is_answered_once_after_restart(
    kb_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    script = [Text("zu spät", delay=60), Text(ANSWER)]  # the first process never gets its answer
    async with FakeTelegram() as api, ScriptedOpenAI(script) as llm:
        doomed = start_serving(kb_dir, api, llm, log)
        try:
            api.push(api.message(CHAT, text="Was bedeutet E013?"))
            for _ in range(600):  # until the model has the question: the turn is in flight
                if llm.requests or doomed.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            assert llm.requests, log.read_text(errors="replace")[-3000:]
            os.kill(doomed.pid, signal.SIGKILL)
            doomed.wait(timeout=10)
        finally:
            stop_serve(doomed, timeout=15)
        assert doomed.returncode == -signal.SIGKILL
        assert not [t for t in api.texts(CHAT) if "E013" in t]

        second = start_serving(kb_dir, api, llm, log)
        try:
            await api.wait_for(lambda: any("Isolationsfehler" in t for t in api.texts(CHAT)), timeout=90)
            assert await inbox_drained(kb_dir)  # the update is closed: nothing can answer it again
        finally:
            stop_serve(second, timeout=15)
    answers = [t for t in api.texts(CHAT) if "Isolationsfehler" in t]
    assert len(answers) == 1, api.texts(CHAT)
    assert second.returncode == 0, log.read_text(errors="replace")[-3000:]  # SIGTERM: a clean stop
