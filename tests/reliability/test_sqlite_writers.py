"""50 concurrent writers on one SQLite file: no "database is locked", nothing lost, order kept."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from storage.db import database_url
from storage.inbox import Inbox
from storage.store import ChatKey, Store

WRITERS = 50
MESSAGES = 8


async def test_fifty_concurrent_writers_on_two_engines(tmp_path: Path) -> None:
    url = database_url(tmp_path / "busy", None)
    stores = [await Store.open(url), await Store.open(url)]  # two pools: like two processes
    try:

        async def writer(n: int) -> None:
            store = stores[n % 2]
            key = ChatKey("telegram", f"chat{n % 10}", f"t{n}")
            inbox = Inbox(store.engine)
            for m in range(MESSAGES):
                assert await inbox.put(key, f"m{m}", {"n": n, "m": m}, timedelta(minutes=5)) is not None
                await store.append_message(key, "user", f"{n}:{m}", user_id=f"u{n}", user_name="U")

        await asyncio.wait_for(asyncio.gather(*(writer(n) for n in range(WRITERS))), timeout=120)
        for n in range(WRITERS):
            key = ChatKey("telegram", f"chat{n % 10}", f"t{n}")
            history = await stores[0].history(key, 100)
            assert [m.content for m in history] == [f"{n}:{m}" for m in range(MESSAGES)]
            assert [m.position for m in history] == list(range(1, MESSAGES + 1))
        assert await Inbox(stores[1].engine).pending() == WRITERS * MESSAGES
    finally:
        for store in stores:
            await store.close()
