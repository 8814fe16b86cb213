"""The engine: URLs, SQLite settings on every connection, portable DDL and upserts."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.util import greenlet_spawn

from storage.db import (
    OneStatementWrite,
    Prepared,
    Unit,
    create_engine,
    database_url,
    dialect_insert,
    run_unit,
    sqlite_pragma,
    write_transaction,
)
from storage.errors import StorageError, UnsupportedDatabase
from storage.migrations import migrate
from storage.models import Base, InboxItem, Message
from storage.store import Store
from storage_helpers import T0


def inbox_row(message_id: str) -> dict[str, object]:
    """An inbox row of Telegram chat 1, as the adapters store it."""
    return {
        "platform": "telegram",
        "chat_id": "1",
        "thread_key": "",
        "message_id": message_id,
        "payload": "{}",
        "created_at": T0,
        "lease_until": T0,
    }


def test_default_url_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet"
    url = database_url(data_dir, None)
    assert data_dir.is_dir()
    assert url == f"sqlite+aiosqlite:///{data_dir.resolve() / 'nik.db'}"


def test_a_given_url_wins(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://nik:secret@db/nik"
    assert database_url(tmp_path / "unused", url) == url
    assert not (tmp_path / "unused").exists()


async def test_pragmas_hold_on_every_fresh_connection(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        # Two connections open at once: the pool had to open both, each got the settings.
        async with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                assert await sqlite_pragma(conn, "journal_mode") == "wal"
                assert await sqlite_pragma(conn, "busy_timeout") == 5000
                assert await sqlite_pragma(conn, "foreign_keys") == 1
                assert await sqlite_pragma(conn, "synchronous") == 1  # NORMAL
    finally:
        await engine.dispose()


async def test_foreign_keys_are_enforced(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(
                    insert(Message).values(
                        chat_row_id=999, conversation=1, position=1, role="user", content="x", created_at=T0
                    )
                )
    finally:
        await engine.dispose()


async def test_opening_a_new_file_waits_while_another_process_writes(data_dir: Path, sqlite_url: str) -> None:
    """SQLite fails a switch to WAL at once ("database is locked") while another
    connection writes to a new file, ignoring busy_timeout; the engine retries."""
    data_dir.mkdir(parents=True, exist_ok=True)
    other = sqlite3.connect(data_dir / "nik.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE other_process (x INTEGER)")
    release = threading.Timer(0.2, other.execute, ("COMMIT",))
    release.start()
    try:
        store = await Store.open(sqlite_url)
    finally:
        release.join()
        other.close()
    async with store.engine.connect() as conn:
        assert await sqlite_pragma(conn, "journal_mode") == "wal"
    await store.close()


async def test_a_connection_returned_in_a_transaction_is_rolled_back(sqlite_url: str) -> None:
    """The pool skips the rollback after a commit, but not when SQLite still holds a transaction
    open on the connection: the write lock is released for the next writer (another process here)."""
    engine, other = create_engine(sqlite_url), create_engine(sqlite_url)
    try:
        await migrate(engine)
        raw = await engine.raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.execute("BEGIN IMMEDIATE")  # SQLAlchemy does not know of it
        assert driver.in_transaction
        await greenlet_spawn(raw.close)  # back to the pool
        async with write_transaction(other) as conn:  # would wait out busy_timeout and fail if still held
            await conn.execute(insert(InboxItem).values(**inbox_row("1")))
        async with engine.connect() as conn:
            again = (await conn.get_raw_connection()).driver_connection
            assert again is not None and not again.in_transaction
    finally:
        await engine.dispose()
        await other.dispose()


def _one_insert(engine: AsyncEngine) -> OneStatementWrite:
    statement = (
        dialect_insert(engine.dialect.name, InboxItem)
        .on_conflict_do_nothing(index_elements=["platform", "chat_id", "thread_key", "message_id"])
        .returning(InboxItem.id)
    )
    return OneStatementWrite(engine, statement, [*inbox_row("x"), "attempts"])


async def test_a_one_statement_write_commits_and_returns_its_rows(db_url: str) -> None:
    """Stored and committed (another engine sees it), typed values stored as SQLAlchemy stores
    them (the datetime comes back equal), a conflict returns no row."""
    engine, other = create_engine(db_url), create_engine(db_url)
    try:
        await migrate(engine)
        write = _one_insert(engine)
        ((row_id,),) = await write.rows({**inbox_row("1"), "attempts": 1})
        assert await write.rows({**inbox_row("1"), "attempts": 1}, urgent=True) == []
        async with other.connect() as conn:
            stored = (await conn.execute(select(InboxItem.id, InboxItem.lease_until))).all()
        assert [tuple(r) for r in stored] == [(row_id, T0)]
    finally:
        await engine.dispose()
        await other.dispose()


async def test_a_failing_one_statement_write_raises_sqlalchemys_error_and_leaves_the_pool_sound(
    sqlite_url: str,
) -> None:
    """A driver error surfaces as ``DBAPIError`` (what the adapters catch); the connection goes
    back to the pool in its usual mode: the next transaction still rolls back as a whole."""
    engine = create_engine(sqlite_url)
    try:
        await migrate(engine)
        write = _one_insert(engine)
        with pytest.raises(DBAPIError):
            await write.rows({**inbox_row("1"), "attempts": 1, "payload": None})  # NOT NULL
        with pytest.raises(RuntimeError):
            async with write_transaction(engine) as conn:
                await conn.execute(insert(InboxItem).values(**inbox_row("2")))
                raise RuntimeError("the turn failed")
        async with engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(InboxItem))).scalar_one() == 0
    finally:
        await engine.dispose()


def _unit_statements(engine: AsyncEngine) -> tuple[Prepared, Prepared]:
    put = Prepared(engine, insert(InboxItem), [*inbox_row("x"), "attempts"])
    listed = Prepared(engine, select(InboxItem.message_id, InboxItem.lease_until).order_by(InboxItem.message_id))
    return put, listed


async def test_a_unit_of_work_commits_as_a_whole_or_not_at_all(db_url: str) -> None:
    """A write unit's statements commit together (another engine sees both rows, typed as
    SQLAlchemy reads them); a unit whose body raises leaves nothing behind; a driver error
    is SQLAlchemy's ``DBAPIError`` and rolls back the statements before it."""
    engine, other = create_engine(db_url), create_engine(db_url)
    try:
        await migrate(engine)
        put, _ = _unit_statements(engine)

        def two(unit: Unit) -> None:
            unit.many(put, [{**inbox_row("1"), "attempts": 0}, {**inbox_row("2"), "attempts": 0}])

        def half(unit: Unit) -> None:
            unit.rows(put, {**inbox_row("3"), "attempts": 0})
            raise RuntimeError("the turn failed")

        def clash(unit: Unit) -> None:
            unit.rows(put, {**inbox_row("4"), "attempts": 0})
            unit.rows(put, {**inbox_row("1"), "attempts": 0})  # the unique key: the driver refuses

        await run_unit(engine, two, write=True)
        with pytest.raises(RuntimeError):
            await run_unit(engine, half, write=True)
        with pytest.raises(DBAPIError):
            await run_unit(engine, clash, write=True, urgent=True)
        rows = await run_unit(other, lambda unit: unit.rows(_unit_statements(other)[1], {}), write=False)
        assert [(r.message_id, r.lease_until) for r in rows] == [("1", T0), ("2", T0)]
    finally:
        await engine.dispose()
        await other.dispose()


async def test_a_read_unit_on_sqlite_sees_one_snapshot(sqlite_url: str) -> None:
    """A commit made between a read unit's statements is not seen by the later ones (on
    PostgreSQL the transaction is READ COMMITTED, its default)."""
    engine, other = create_engine(sqlite_url), create_engine(sqlite_url)
    try:
        await migrate(engine)
        put, listed = _unit_statements(engine)
        await run_unit(engine, lambda unit: unit.rows(put, {**inbox_row("1"), "attempts": 0}), write=True)
        committed = threading.Event()

        def commit_elsewhere() -> None:
            async def write() -> None:
                async with write_transaction(other) as conn:
                    await conn.execute(insert(InboxItem).values(**inbox_row("2")))

            asyncio.run_coroutine_threadsafe(write(), loop).result(timeout=10)
            committed.set()

        def read(unit: Unit) -> tuple[int, int]:
            first = len(unit.rows(listed, {}))
            runner = threading.Thread(target=commit_elsewhere)
            runner.start()
            while not committed.is_set():  # the loop runs the other engine's write meanwhile
                unit.rows(listed, {})  # each a round trip, letting the loop run
            runner.join()
            return first, len(unit.rows(listed, {}))

        loop = asyncio.get_running_loop()
        assert await run_unit(engine, read, write=False) == (1, 1)
        assert len(await run_unit(engine, lambda unit: unit.rows(listed, {}), write=False)) == 2
    finally:
        await engine.dispose()
        await other.dispose()


async def test_two_processes_open_a_new_file_at_once(db_url: str) -> None:
    stores = await asyncio.gather(Store.open(db_url), Store.open(db_url))
    for store in stores:
        await store.close()


async def test_an_urgent_writer_goes_before_the_waiting_ones(sqlite_url: str) -> None:
    """The webhook's INSERT waits for the transaction running now, not for the queue of turns."""
    engine = create_engine(sqlite_url)
    try:
        order: list[str] = []
        release, holding = asyncio.Event(), asyncio.Event()

        async def writer(name: str, urgent: bool = False) -> None:
            async with write_transaction(engine, urgent=urgent):
                order.append(name)
                if name == "running":
                    holding.set()
                    await release.wait()

        running = asyncio.create_task(writer("running"))
        await holding.wait()
        queued = [asyncio.create_task(writer(f"turn{n}")) for n in range(3)]
        cancelled = asyncio.create_task(writer("cancelled", urgent=True))
        urgent = asyncio.create_task(writer("ack", urgent=True))
        await asyncio.sleep(0)  # everyone is queued
        cancelled.cancel()
        release.set()
        await asyncio.gather(running, urgent, *queued)
        assert order == ["running", "ack", "turn0", "turn1", "turn2"]
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "mysql+aiomysql://nik:secret@db/nik",  # no INSERT … ON CONFLICT there
        "sqlite:///nik.db",  # synchronous driver
        "no url at all",
        "nosuchdb+driver://nik:secret@db/nik",
    ],
)
def test_unusable_urls_fail_loudly_without_the_password(url: str) -> None:
    with pytest.raises(UnsupportedDatabase) as caught:
        create_engine(url)
    assert isinstance(caught.value, StorageError)
    assert "secret" not in str(caught.value)


@pytest.mark.skipif(importlib.util.find_spec("asyncpg") is not None, reason="asyncpg is installed here")
def test_a_missing_driver_is_named() -> None:
    with pytest.raises(UnsupportedDatabase, match="asyncpg") as caught:
        create_engine("postgresql+asyncpg://nik:secret@db/nik")
    assert "secret" not in str(caught.value)


def test_the_schema_compiles_for_postgres() -> None:
    """No SQLite-only DDL: every table and index renders for Postgres."""
    dialect = postgresql.dialect()
    ddl = [str(CreateTable(table).compile(dialect=dialect)) for table in Base.metadata.sorted_tables]
    ddl += [
        str(CreateIndex(index).compile(dialect=dialect)) for t in Base.metadata.tables.values() for index in t.indexes
    ]
    assert any('CREATE TABLE "references"' in statement for statement in ddl)  # a reserved word, quoted
    assert all("AUTOINCREMENT" not in statement for statement in ddl)


def test_dialect_insert_renders_on_conflict_for_both_dialects() -> None:
    for name, dialect in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect())):
        stmt = (
            dialect_insert(name, InboxItem)
            .values(**inbox_row("7"))
            .on_conflict_do_nothing(index_elements=["platform", "chat_id", "thread_key", "message_id"])
        )
        sql = str(stmt.compile(dialect=dialect))
        assert "ON CONFLICT (platform, chat_id, thread_key, message_id) DO NOTHING" in sql
    with pytest.raises(UnsupportedDatabase):
        dialect_insert("mysql", InboxItem)
