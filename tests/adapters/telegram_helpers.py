"""Serving Nik against the fake Bot API: settings, a quick platform, a tiny JPEG."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image
from telegram_fake import TOKEN, FakeTelegram

from adapters.serve import PlatformFactory, Server, running
from adapters.telegram import TelegramPlatform
from bot.config import Settings
from bot.core.conversation import Conversation
from bot.core.messages import IncomingMessage, Reply
from bot.runtime.composition import Nik
from knowledge.service import KnowledgeBase
from storage.store import Receipt

SECRET = "s3cret-Token_1"


def settings_for(data_dir: Path, api: FakeTelegram, **extra: Any) -> Settings:
    values = {
        "NIK_DATA_DIR": str(data_dir),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": api.root,
        "NIK_HOST": "127.0.0.1",
        "NIK_PORT": 0,
        **extra,
    }
    return Settings.model_validate(values)


def quick(**options: Any) -> PlatformFactory:
    """A Telegram platform with short waits (retries, album quiet time, long-poll timeout, typing)."""
    chosen = {"backoff": 0.05, "album_quiet": 0.3, "poll_timeout": 1.0, "typing_every": 0.2, **options}

    def build(nik: Nik) -> TelegramPlatform:
        return TelegramPlatform(nik, **chosen)

    return build


@asynccontextmanager
async def serving(
    settings: Settings, kb: KnowledgeBase, *, seen: list[IncomingMessage] | None = None, **options: Any
) -> AsyncIterator[Server]:
    """``nik serve`` with a quick Telegram platform; ``seen`` collects what the core is handed."""
    factory = quick(**options) if seen is None else spying(seen, **options)
    async with running(settings, knowledge=kb, factories=[factory]) as server:
        yield server


@dataclass
class SpyConversation:
    """The real conversation, recording each message the adapter hands it."""

    inner: Conversation
    seen: list[IncomingMessage]

    def handle(self, message: IncomingMessage, *, receipt: Receipt | None = None) -> AsyncIterator[Reply]:
        self.seen.append(message)
        return self.inner.handle(message, receipt=receipt)


def spying(seen: list[IncomingMessage], **options: Any) -> PlatformFactory:
    build = quick(**options)
    return lambda nik: build(replace(nik, conversation=SpyConversation(nik.conversation, seen)))  # type: ignore[arg-type]


def tiny_jpeg(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(out, "JPEG")
    return out.getvalue()
