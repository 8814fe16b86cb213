"""Schema versions: fresh databases, re-runs, upgrades, failed steps, newer databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, Table, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrations
from storage.db import create_engine, lock_for_migration
from storage.errors import SchemaTooNew, StorageError
from storage.migrations import LATEST, MIGRATIONS, Migration, migrate, schema_version
from storage.models import Base, SchemaVersion
from storage.store import ChatKey, Store


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(db_url)
    yield made
    await made.dispose()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


def test_steps_are_numbered_one_by_one() -> None:
    assert [step.version for step in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1].version == LATEST


async def test_an_empty_database_is_at_version_zero(engine: AsyncEngine) -> None:
    assert await schema_version(engine) == 0


async def test_migrate_creates_the_schema_and_records_the_version(engine: AsyncEngine) -> None:
    assert await migrate(engine) == LATEST
    assert await schema_version(engine) == LATEST
    assert await _tables(engine) == set(Base.metadata.tables)
    async with engine.connect() as conn:
        assert (await conn.execute(select(SchemaVersion.id, SchemaVersion.version))).all() == [(1, LATEST)]


async def test_the_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    await migrate(engine)

    def columns(sync: Connection) -> dict[str, set[str]]:
        inspector = inspect(sync)
        return {name: {c["name"] for c in inspector.get_columns(name)} for name in inspector.get_table_names()}

    async with engine.connect() as conn:
        found = await conn.run_sync(columns)
    assert found == {name: {c.name for c in table.columns} for name, table in Base.metadata.tables.items()}


async def test_migrate_is_idempotent_and_keeps_data(db_url: str, engine: AsyncEngine) -> None:
    assert await migrate(engine) == LATEST
    store = await Store.open(db_url)
    await store.append_message(ChatKey("telegram", "1"), "user", "Hallo")
    await store.close()
    assert await migrate(engine) == LATEST
    assert await migrate(engine) == LATEST
    async with engine.connect() as conn:
        assert (await conn.execute(select(SchemaVersion.version))).scalars().all() == [LATEST]
    store = await Store.open(db_url)
    assert [m.content for m in await store.history(ChatKey("telegram", "1"), 10)] == ["Hallo"]
    await store.close()


async def test_two_processes_migrating_at_once_both_succeed(db_url: str) -> None:
    engines = [create_engine(db_url), create_engine(db_url)]
    try:
        assert await asyncio.gather(*(migrate(e) for e in engines)) == [LATEST, LATEST]
        assert await schema_version(engines[0]) == LATEST
    finally:
        for e in engines:
            await e.dispose()


async def test_an_upgrade_applies_only_the_missing_steps(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    await migrate(engine)
    applied: list[int] = []
    extra = MetaData()
    Table("upgrade_probe", extra, Column("id", Integer, primary_key=True))

    nxt = LATEST + 1

    def step_next(conn: Connection) -> None:
        applied.append(nxt)
        extra.create_all(conn)

    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, Migration(nxt, "probe", step_next)))
    monkeypatch.setattr(migrations, "LATEST", nxt)
    assert await migrate(engine) == nxt
    assert await migrate(engine) == nxt
    assert applied == [nxt]
    assert "upgrade_probe" in await _tables(engine)
    assert await schema_version(engine) == nxt


async def test_a_version_one_database_gains_the_inbox(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync, tables=_version_one_tables()))
        await conn.execute(text("INSERT INTO schema_version (id, version) VALUES (1, 1)"))
    assert "inbox" not in await _tables(engine)
    assert await migrate(engine) == LATEST
    assert "inbox" in await _tables(engine)


async def test_a_version_two_database_loses_the_processed_messages(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync))
        await conn.execute(text("CREATE TABLE processed_messages (id INTEGER PRIMARY KEY, message_id VARCHAR(64))"))
        await conn.execute(text("INSERT INTO schema_version (id, version) VALUES (1, 2)"))
    assert await migrate(engine) == LATEST
    assert "processed_messages" not in await _tables(engine)


def _version_one_tables() -> list[Table]:
    return [t for name, t in Base.metadata.tables.items() if name != "inbox"]


class StepFailed(Exception):
    pass


async def test_a_failing_step_leaves_the_database_as_it_was(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrate(engine)

    def broken(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
        raise StepFailed("boom")

    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, Migration(LATEST + 1, "broken", broken)))
    monkeypatch.setattr(migrations, "LATEST", LATEST + 1)
    with pytest.raises(StepFailed):
        await migrate(engine)
    assert await schema_version(engine) == LATEST
    assert "half_done" not in await _tables(engine)


async def test_a_newer_database_is_refused(db_url: str, engine: AsyncEngine) -> None:
    await migrate(engine)
    async with engine.begin() as conn:
        await conn.execute(update(SchemaVersion).values(version=LATEST + 1))

    with pytest.raises(SchemaTooNew) as caught:
        await migrate(engine)
    assert isinstance(caught.value, StorageError)
    assert (caught.value.found, caught.value.supported) == (LATEST + 1, LATEST)
    assert f"schema version {LATEST + 1}" in str(caught.value)
    assert "Upgrade Nik" in str(caught.value)

    with pytest.raises(SchemaTooNew):
        await Store.open(db_url)
    assert await schema_version(engine) == LATEST + 1  # untouched


async def test_on_postgres_a_migration_waits_for_the_advisory_lock(postgres_url: str) -> None:
    """Another process holds the migration lock: this one waits instead of racing it."""
    holder, waiter = create_engine(postgres_url), create_engine(postgres_url)
    try:
        async with holder.begin() as conn:
            await lock_for_migration(conn)
            waiting = asyncio.create_task(migrate(waiter))
            await asyncio.wait_for(_advisory_lock_awaited(holder), 10)  # the server says it waits
            assert not waiting.done()  # blocked on the lock, not failed
            assert await schema_version(holder) == 0
        assert await asyncio.wait_for(waiting, 10) == LATEST
    finally:
        await holder.dispose()
        await waiter.dispose()


async def _advisory_lock_awaited(engine: AsyncEngine) -> None:
    """Return once some session waits for an advisory lock it has not been granted (pg_locks)."""
    query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    while True:
        async with engine.connect() as conn:
            if await conn.scalar(query):
                return
        await asyncio.sleep(0.02)


async def test_a_version_five_database_gains_the_message_kind(db_url: str, engine: AsyncEngine) -> None:
    """A database from before step 6 gains ``messages.kind``; a user message has none."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync))
        await conn.execute(text("ALTER TABLE messages DROP COLUMN kind"))
        await conn.execute(text("INSERT INTO schema_version (id, version) VALUES (1, 5)"))
    store = Store(engine)
    assert await migrate(engine) == LATEST
    old = await store.append_message(ChatKey("telegram", "1"), "user", "Hallo")

    def message_columns(sync: Connection) -> set[str]:
        return {c["name"] for c in inspect(sync).get_columns("messages")}

    async with engine.connect() as conn:
        assert "kind" in await conn.run_sync(message_columns)
        assert (await conn.execute(text("SELECT position, kind FROM messages"))).all() == [(old.position, None)]
