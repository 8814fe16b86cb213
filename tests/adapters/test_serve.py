"""``nik serve``'s one web app: health and readiness, platforms wired to the dispatcher, clean stop."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from adapters.serve import platform_factories, running
from bot.config import Settings
from bot.core.messages import Progress
from bot.errors import ConfigError
from bot.runtime.composition import Nik
from bot.runtime.jobs import Report
from knowledge.service import KnowledgeBase
from storage.inbox import Delivery
from storage.store import ChatKey, Receipt


class Echo:
    """A minimal platform: POST /echo stores the body's text; process records it."""

    name = "telegram"

    def __init__(self, nik: Nik) -> None:
        self.nik = nik
        self.events: list[str] = []
        self.processed: list[str] = []

    def routes(self) -> Sequence[web.RouteDef]:
        async def echo(request: web.Request) -> web.Response:
            body = await request.json()
            await self.nik.dispatcher.submit(ChatKey("telegram", "c1"), body["id"], body)
            return web.Response(text="ok")

        return [web.post("/echo", echo)]

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")

    async def process(self, delivery: Delivery, receipt: Receipt) -> None:
        self.processed.append(delivery.payload["text"])

    async def ready(self) -> tuple[bool, str]:
        return "start" in self.events, "connected"

    async def notify(self, chat_id: str, text: str) -> None:
        self.events.append(f"note to {chat_id}: {text}")

    def progress_note(self, key: ChatKey) -> Report:
        async def show(progress: Progress) -> None:
            self.events.append(f"progress in {key.chat_id}: {progress.text}")

        return show


def settings_for(data_dir: Path, **extra: str) -> Settings:
    return Settings.model_validate({"NIK_DATA_DIR": str(data_dir), "NIK_HOST": "127.0.0.1", "NIK_PORT": "0", **extra})


async def test_health_readiness_and_a_platform_route(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    platforms: list[Echo] = []

    def make(nik: Nik) -> Echo:
        platforms.append(Echo(nik))
        return platforms[-1]

    async with running(settings_for(kb_dir), knowledge=sample_kb, factories=[make]) as server:
        base = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200 and (await response.json())["status"] == "ok"
            async with http.get(f"{base}/readyz") as response:
                body = await response.json()
                assert response.status == 200, body
                assert set(body["checks"]) == {"database", "index", "telegram"}
            for _ in range(3):  # re-delivered three times
                async with http.post(f"{base}/echo", json={"id": "u1", "text": "hallo"}) as response:
                    assert response.status == 200
        await server.nik.dispatcher.drain()
        assert platforms[0].processed == ["hallo"]
    assert platforms[0].events == ["start", "stop"]


async def test_readiness_fails_without_an_index(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "empty")
    async with (
        running(settings, factories=[Echo]) as server,
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{server.port}/readyz") as response,
    ):
        body = await response.json()
    assert response.status == 503
    assert body["checks"]["index"]["ok"] is False and body["checks"]["database"]["ok"] is True


def test_serving_nothing_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        platform_factories(settings_for(tmp_path))


async def test_metrics_and_the_scheduled_sync_report_to_the_admin_chat(kb_dir: Path, sample_kb: KnowledgeBase) -> None:
    platforms: list[Echo] = []

    def make(nik: Nik) -> Echo:
        platforms.append(Echo(nik))
        return platforms[-1]

    settings = settings_for(kb_dir, NIK_ADMIN_CHAT="telegram:-100777", NIK_REINDEX_CRON="0 3 * * *")
    async with running(settings, knowledge=sample_kb, factories=[make]) as server:
        assert server.schedule.next_run is not None
        summary = await server.schedule.sync()
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{server.port}/metrics") as response,
        ):
            text = await response.text()
    assert response.status == 200 and response.content_type == "text/plain"
    assert 'nik_reindex_runs_total{result="ok"} 1.0' in text
    assert "# TYPE nik_turn_seconds histogram" in text and "nik_retrieval_seconds_count" in text
    assert f"note to -100777: {summary}" in platforms[0].events
