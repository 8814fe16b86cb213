"""The one aiohttp application of ``nik serve``: platform webhooks and health.

Each platform adapter is a :class:`Platform`: it contributes its routes
(Telegram's webhook, Teams' ``/api/messages``), starts and stops its connection,
runs the updates the dispatcher hands it, and says whether it is connected.
``file_route`` serves the files Teams channels get as signed links (``adapters.files``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable
from urllib.parse import quote

from aiohttp import web

from adapters.files import ROUTE as FILE_ROUTE
from adapters.files import FileShelf
from bot.runtime.jobs import Report
from bot.runtime.metrics import Metrics
from storage.inbox import Delivery
from storage.store import ChatKey, Receipt

ReadyCheck = Callable[[], Awaitable[tuple[bool, str]]]


class Platform(Protocol):
    name: str  # "telegram" | "teams": the platform of its chat keys

    def routes(self) -> Sequence[web.RouteDef]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def process(self, delivery: Delivery, receipt: Receipt) -> None:
        """Run one stored update; a turn that stores something closes ``receipt`` in that write."""
        ...

    async def ready(self) -> tuple[bool, str]: ...


@runtime_checkable
class Notifier(Protocol):
    """A platform that can write notes of Nik's own into a chat, outside any turn: the
    scheduled sync's summary, and a background job's progress edited in place."""

    async def notify(self, chat_id: str, text: str) -> None: ...

    def progress_note(self, key: ChatKey) -> Report: ...


def health_app(
    checks: dict[str, ReadyCheck], routes: Sequence[web.RouteDef] = (), metrics: Metrics | None = None
) -> web.Application:
    """``GET /healthz`` (the process answers), ``GET /readyz`` (every check passes: 200, else 503)
    and ``GET /metrics`` (Prometheus text format)."""
    started = time.monotonic()

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "uptime_seconds": round(time.monotonic() - started, 1)})

    async def readyz(_: web.Request) -> web.Response:
        detail: dict[str, dict[str, object]] = {}
        for name, check in checks.items():
            ok, note = await check()
            detail[name] = {"ok": ok, "detail": note}
        ready = all(entry["ok"] for entry in detail.values())
        return web.json_response({"ready": ready, "checks": detail}, status=200 if ready else 503)

    async def prometheus(_: web.Request) -> web.Response:
        assert metrics is not None
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = metrics.content_type
        return response

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz), *routes])
    if metrics is not None:
        app.add_routes([web.get("/metrics", prometheus)])
    return app


def file_route(shelf: FileShelf) -> web.RouteDef:
    """``GET /files/<token>/<name>?exp=…&sig=…``: a shelved file while its signed link is valid, else 403."""

    async def download(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        query = request.rel_url.query
        if not shelf.verify(token, query.get("exp", ""), query.get("sig", "")):
            return web.Response(status=403, text="Der Link ist ungültig oder abgelaufen.")
        found = shelf.get(token)
        if found is None:
            return web.Response(status=403, text="Der Link ist ungültig oder abgelaufen.")
        disposition = f"attachment; filename*=UTF-8''{quote(found.name)}"
        return web.Response(body=found.data, content_type=found.mime, headers={"Content-Disposition": disposition})

    return web.get(FILE_ROUTE, download)
