"""Schema versions: fresh databases, re-runs, upgrades, failed steps, newer databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, Table, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrations
from storage.db import create_engine
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

    def step_two(conn: Connection) -> None:
        applied.append(2)
        extra.create_all(conn)

    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, Migration(2, "probe", step_two)))
    monkeypatch.setattr(migrations, "LATEST", 2)
    assert await migrate(engine) == 2
    assert await migrate(engine) == 2
    assert applied == [2]
    assert "upgrade_probe" in await _tables(engine)
    assert await schema_version(engine) == 2


class StepFailed(Exception):
    pass


async def test_a_failing_step_leaves_the_database_as_it_was(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrate(engine)

    def broken(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
        raise StepFailed("boom")

    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, Migration(2, "broken", broken)))
    monkeypatch.setattr(migrations, "LATEST", 2)
    with pytest.raises(StepFailed):
        await migrate(engine)
    assert await schema_version(engine) == 1
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
