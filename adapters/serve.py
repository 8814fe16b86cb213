"""``nik serve``: every configured platform in one process, one web server.

Start-up order: open the core (store, knowledge, engine), build the platforms,
serve HTTP (webhooks must be reachable before Telegram is told the URL), connect
the platforms, then let the dispatcher take over what a previous process left
pending and start the scheduler (sync and chores). A platform whose service is unreachable keeps retrying its connection
meanwhile, ``/readyz`` saying so. Shut-down runs the other way round on
SIGINT/SIGTERM, also while a platform is still connecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from adapters.web import Notifier, Platform, ReadyCheck, health_app
from bot.config import Settings
from bot.errors import ConfigError
from bot.runtime.composition import Nik, open_nik
from bot.runtime.scheduler import Notify, Schedule
from knowledge.errors import IndexMissing
from knowledge.service import KnowledgeBase

log = logging.getLogger(__name__)

PlatformFactory = Callable[[Nik], Platform]


@dataclass(frozen=True, slots=True)
class Server:
    nik: Nik
    platforms: tuple[Platform, ...]
    runner: web.AppRunner
    schedule: Schedule

    @property
    def port(self) -> int:
        """The port actually bound (``NIK_PORT=0`` picks a free one)."""
        for site in self.runner.sites:
            server = site._server  # aiohttp exposes no public accessor for the bound socket
            if isinstance(server, asyncio.base_events.Server) and server.sockets:
                return int(server.sockets[0].getsockname()[1])
        raise RuntimeError("the server is not listening")


def platform_factories(settings: Settings) -> list[PlatformFactory]:
    """The platforms the settings configure (their modules are imported only when configured)."""
    factories: list[PlatformFactory] = []
    if settings.telegram_configured:
        from adapters.telegram import TelegramPlatform

        factories.append(lambda nik: TelegramPlatform(nik))
    if settings.teams_configured:
        from adapters.teams import TeamsPlatform

        factories.append(lambda nik: TeamsPlatform(nik))
    if not factories:
        raise ConfigError(
            "Keine Plattform konfiguriert: TELEGRAM_BOT_TOKEN und/oder TEAMS_APP_ID setzen "
            "(oder NIK_TEAMS=true mit NIK_ENV=development zum lokalen Testen)."
        )
    return factories


@asynccontextmanager
async def running(
    settings: Settings,
    *,
    knowledge: KnowledgeBase | None = None,
    factories: list[PlatformFactory] | None = None,
) -> AsyncIterator[Server]:
    """Serve until the context exits; everything is stopped in reverse order."""
    factories = platform_factories(settings) if factories is None else factories
    async with AsyncExitStack() as stack:
        nik = await stack.enter_async_context(open_nik(settings, knowledge))
        platforms = tuple(factory(nik) for factory in factories)
        checks = {"database": _database_check(nik), "index": _index_check(nik)}
        checks.update({p.name: p.ready for p in platforms})
        app = health_app(checks, [route for p in platforms for route in p.routes()], nik.metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, settings.host, settings.port).start()
        for platform in platforms:
            nik.dispatcher.register(platform.name, platform.process)
            if isinstance(platform, Notifier):
                nik.jobs.register(platform.name, platform.progress_note)
            nik.support.register(platform.name, platform)  # when it can post outside a turn (an Outbox)
        for platform in platforms:
            stack.push_async_callback(platform.stop)  # also when its start is interrupted
            await platform.start()
        await nik.dispatcher.start()
        stack.push_async_callback(nik.dispatcher.stop)
        schedule = Schedule(nik.jobs, settings.reindex_cron, _admin_notify(settings, platforms), chores=nik.chores)
        schedule.start()
        stack.push_async_callback(schedule.stop)
        server = Server(nik, platforms, runner, schedule)
        log.warning("Nik serves %s on %s:%d", ", ".join(p.name for p in platforms), settings.host, server.port)
        yield server


async def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; a signal during start-up (a platform still connecting) stops it too."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    started = False

    def on_signal() -> None:
        stop.set()
        if not started and main is not None:
            main.cancel()  # interrupts start-up; the exit stack undoes what was started

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, on_signal)
    try:
        async with running(settings):
            started = True
            await stop.wait()
            log.warning("stopping")
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
        log.warning("stopped during start-up")
    return 0


def _admin_notify(settings: Settings, platforms: tuple[Platform, ...]) -> Notify | None:
    """Where the scheduled sync reports: ``NIK_ADMIN_CHAT`` = ``platform:chat_id``."""
    if not settings.admin_chat:
        return None
    name, _, chat_id = settings.admin_chat.partition(":")
    target = next((p for p in platforms if p.name == name), None)
    if target is None or not chat_id or not isinstance(target, Notifier):
        log.warning("NIK_ADMIN_CHAT %r: no such platform here that can post notes; reports go to the log only", name)
        return None
    return partial(target.notify, chat_id)


def _database_check(nik: Nik) -> ReadyCheck:
    async def check() -> tuple[bool, str]:
        try:
            async with nik.store.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as error:  # readiness reports a down database, it does not fail
            return False, type(error).__name__
        return True, nik.store.engine.dialect.name

    return check


def _index_check(nik: Nik) -> ReadyCheck:
    async def check() -> tuple[bool, str]:
        try:
            state = await asyncio.to_thread(nik.knowledge.state)
        except IndexMissing:
            return False, "no index yet: run /reindex or nik index"
        return True, f"version {state.version}"

    return check
