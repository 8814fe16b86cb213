"""Nik served with the Teams platform against the fake Bot Framework and a scripted LLM."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select
from teams_fake import APP_ID, FakeBotFramework

from adapters.serve import Server, running
from adapters.teams import TeamsPlatform
from bot.config import Settings
from bot.runtime.composition import Nik
from fakes import ScriptedOpenAI, Step
from knowledge.service import KnowledgeBase
from storage.models import InboxItem

ANNA = "6f1c2a4e-3b7d-4c2a-9e51-0a1b2c3d4e5f"  # the AAD object id in the personal fixtures
BEN = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
TITLE = "SolarFux SF-5000TL Installations- und Bedienungsanleitung"


def teams_settings(data_dir: Path, llm_url: str, **extra: str) -> Settings:
    values = {
        "NIK_DATA_DIR": str(data_dir),
        "NIK_HOST": "127.0.0.1",
        "NIK_PORT": "0",
        "TEAMS_APP_ID": APP_ID,
        "TEAMS_APP_PASSWORD": "s3cret-test-password",
        "NIK_TEAMS_TRUSTED_HOSTS": "127.0.0.1",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": llm_url,
        "NIK_LLM_MODEL": "scripted-model",
        **extra,
    }
    return Settings.model_validate({k: v for k, v in values.items() if v != ""})


@dataclass
class Teams:
    server: Server
    fake: FakeBotFramework
    llm: ScriptedOpenAI
    http: aiohttp.ClientSession

    @property
    def nik(self) -> Nik:
        return self.server.nik

    async def post(
        self,
        activity: dict[str, Any] | str,
        *,
        token: str | None = "valid",
        authorization: str | None = None,
        content_type: str | None = "application/json",
    ) -> tuple[int, float]:
        """POST to /api/messages; (status, seconds until the response)."""
        headers = {}
        if authorization is not None:
            headers["Authorization"] = authorization
        elif token == "valid":
            headers["Authorization"] = f"Bearer {self.fake.sign()}"
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if content_type is not None:
            headers["Content-Type"] = content_type
        data = activity if isinstance(activity, str) else json.dumps(activity)
        started = time.monotonic()
        url = f"http://127.0.0.1:{self.server.port}/api/messages"
        async with self.http.post(url, data=data.encode(), headers=headers) as response:
            await response.read()
            return response.status, time.monotonic() - started

    async def stored(self) -> int:
        """Rows in the inbox table (answered or not)."""
        async with self.nik.store.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(InboxItem)) or 0)


STREAM_EVERY = 0.05  # seconds between a stream's requests (Teams: 1); the fake throttles closer ones


@asynccontextmanager
async def serving(
    data_dir: Path, knowledge: KnowledgeBase, script: list[Step] | None = None, **env: str
) -> AsyncIterator[Teams]:
    async with FakeBotFramework(stream_every=STREAM_EVERY * 0.8) as fake, ScriptedOpenAI(list(script or [])) as llm:
        settings = teams_settings(data_dir, llm.base_url, **env)

        def platform(nik: Nik) -> TeamsPlatform:
            return TeamsPlatform(nik, cloud=fake.cloud(), typing_every=0.5, stream_every=STREAM_EVERY)

        async with (
            running(settings, knowledge=knowledge, factories=[platform]) as server,
            aiohttp.ClientSession() as http,
        ):
            yield Teams(server, fake, llm, http)
