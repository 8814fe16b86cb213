"""``nik serve`` as a child process against the loopback fakes (Bot API, scripted model)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from telegram_fake import TOKEN, FakeTelegram

from fakes import ScriptedOpenAI
from storage.db import database_url
from storage.inbox import Inbox
from storage.store import Store


def serve_env(data_dir: Path, api: FakeTelegram, llm: ScriptedOpenAI, **extra: str) -> dict[str, str]:
    """A clean environment: Telegram at ``api``, the LLM at ``llm``, data in ``data_dir``, no schedule."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data_dir),
        "NIK_DATA_DIR": str(data_dir),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": api.root,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": llm.base_url,
        "NIK_LLM_MODEL": "scripted-model",
        "NIK_HOST": "127.0.0.1",
        "NIK_PORT": "0",
        "NIK_REINDEX_CRON": "off",
        **extra,
    }


def start_serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``nik serve``; its output goes to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "adapters.cli", "serve"], env=env, stdout=out, stderr=out)


def stop_serve(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM and wait; SIGKILL when it does not stop in ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def inbox_drained(data_dir: Path, timeout: float = 60.0) -> bool:
    """Wait until the inbox in ``data_dir``'s database holds no pending update: every update
    is closed, so no lease can run out and no process can answer one again. False when
    some are still pending after ``timeout`` seconds."""
    store = await Store.open(database_url(data_dir, None))
    try:
        inbox = Inbox(store.engine)
        deadline = time.monotonic() + timeout
        while await inbox.pending():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True
    finally:
        await store.close()
