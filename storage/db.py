"""The async engine: SQLite through aiosqlite by default, any async SQLAlchemy URL.

SQLite needs its settings on *every* connection the pool opens, so a ``connect``
listener issues them, ``busy_timeout`` first (switching a new file to WAL is retried
while another process holds it, as SQLite does not wait on ``busy_timeout`` there):

* ``busy_timeout=5000``  — a writer waits up to 5 s for the lock instead of failing
* ``journal_mode=WAL``   — readers do not block the writer nor it them (persistent)
* ``foreign_keys=ON``    — SQLite ignores ``REFERENCES`` otherwise
* ``synchronous=NORMAL`` — safe with WAL; a power cut may lose the last commits only

A connection going back to the pool is rolled back only when SQLite says a transaction
is open on it (:func:`_reset_sqlite`): after a commit that rollback is a no-op that still
costs a round trip to aiosqlite's thread.

The only dialect-specific pieces of SQL live here: the ``INSERT … ON CONFLICT``
constructs (:func:`dialect_insert`), the locks taken when a write transaction
begins (:func:`begin_write`, :func:`lock_for_migration`), and the one-statement
write that skips SQLAlchemy's driver adapter on SQLite (:class:`OneStatementWrite`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias

from sqlalchemy import event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolResetState
from sqlalchemy.util import await_only, greenlet_spawn
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

from storage.errors import UnsupportedDatabase

SUPPORTED_DIALECTS = ("sqlite", "postgresql")
SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout=5000",
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)
_LOCKED_ATTEMPTS = 200
_LOCKED_PAUSE = 0.01
DEFAULT_FILE = "nik.db"
_WRITERS: weakref.WeakKeyDictionary[Engine, _Writers] = weakref.WeakKeyDictionary()  # see write_transaction
_PG_MIGRATION_LOCK = 0x4E494B  # "NIK": the advisory lock key serialising migrations on Postgres

Insert: TypeAlias = sqlite.Insert | postgresql.Insert


def database_url(data_dir: Path, url: str | None) -> str:
    """``url`` when given, else a SQLite file in ``data_dir`` (created if missing)."""
    if url:
        return url
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{data_dir.resolve() / DEFAULT_FILE}"


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; SQLite connections get :data:`SQLITE_PRAGMAS`,
    Postgres connections are pinged when taken from the pool."""
    parsed = _check_url(url)
    # A Postgres server restarts or fails over under a long-running Nik: test each pooled
    # connection before use instead of failing the next turn on a dead one.
    options: dict[str, Any] = {"pool_pre_ping": True} if parsed.get_backend_name() == "postgresql" else {}
    if parsed.get_backend_name() == "sqlite":
        options["pool_reset_on_return"] = None  # _reset_sqlite instead
    try:
        engine = create_async_engine(parsed, **options)
    except ImportError as err:
        raise UnsupportedDatabase(
            f"The driver for '{parsed.drivername}' is not installed (no module '{err.name}'); "
            f"install it next to Nik, e.g. `pip install {err.name}`."
        ) from err
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        event.listen(engine.sync_engine.pool, "reset", _reset_sqlite)
    return engine


def dialect_insert(dialect: str, table: Any) -> Insert:
    """The ``INSERT`` construct of ``dialect`` that knows ``ON CONFLICT``."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise UnsupportedDatabase(f"No INSERT … ON CONFLICT for the dialect '{dialect}'.")


class _Writers:
    """The writers of one SQLite file in this process, one at a time: first come, first
    served, except that an urgent writer goes before every waiting ordinary one."""

    def __init__(self) -> None:
        self._busy = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def turn(self, urgent: bool) -> AsyncIterator[None]:
        if self._busy:
            waiter = asyncio.get_running_loop().create_future()
            (self._urgent if urgent else self._ordinary).append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._next()  # handed the turn just as it was cancelled: pass it on
                raise
        self._busy = True
        try:
            yield
        finally:
            self._next()

    def _next(self) -> None:
        for queue in (self._urgent, self._ordinary):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():  # a cancelled waiter is skipped
                    waiter.set_result(None)  # the turn passes straight to it: still busy
                    return
        self._busy = False


@asynccontextmanager
async def write_transaction(
    engine: AsyncEngine, *, urgent: bool = False, immediate: bool = True
) -> AsyncIterator[AsyncConnection]:
    """A write transaction, committed on exit (rolled back on error).

    SQLite has one write lock per file and its busy handler is not fair: under a
    burst of concurrent writers (measured: 20 chats against a faulty LLM) one of
    them can sleep past ``busy_timeout`` and fail with "database is locked". So the
    writers of one process queue (first come, first served) and only one of them at
    a time contends for the file lock, with other processes. An ``urgent`` writer —
    the webhook storing an update before it acknowledges it — waits only for the
    transaction running now (and other urgent ones), never for the queue of turns.

    ``immediate=False`` skips ``BEGIN IMMEDIATE`` (:func:`begin_write`) for a
    transaction whose first statement writes: SQLite takes the write lock at that
    statement, waiting on ``busy_timeout`` (the first statement of a transaction is
    retried on a busy lock, a stale snapshot included), and there is no earlier read
    to go stale.
    Each statement is a round trip to the driver's thread, paid while holding the writer.
    """
    if engine.dialect.name != "sqlite":
        async with engine.begin() as conn:
            yield conn
        return
    async with _writers(engine).turn(urgent), engine.begin() as conn:
        if immediate:
            await begin_write(conn)
        yield conn


class OneStatementWrite:
    """A write of one statement with ``RETURNING``, committed on its own, as cheap as the
    driver allows: for the webhook's and the poller's store-before-acknowledge.

    On SQLite, SQLAlchemy's aiosqlite adapter makes five round trips to the driver's
    thread for it (cursor, execute, fetch, close, commit), and those round trips were
    most of a ``/help`` turn's storage cost. Here the statement is compiled once and
    runs on the pooled connection's own aiosqlite connection in autocommit mode: one
    round trip, the statement committing as it completes (one statement is atomic;
    durable as any commit under WAL). It still queues with this process's writers
    (:func:`write_transaction`), waits on ``busy_timeout`` for other processes, and
    a driver error is raised as SQLAlchemy's (``DBAPIError``). A call cancelled while
    the driver runs the statement may still have committed it; for the inbox that is a
    row stored but not queued, taken over when its lease runs out, as after a crash.
    Other dialects run the statement through SQLAlchemy as it is.

    ``columns`` are the columns the statement sets; ``values`` must give each of them
    (a column default is not applied on SQLite) and every other bound parameter. The
    rows come as the driver gives them (on SQLite no result type is applied): return
    ids and flags, not datetimes.
    """

    def __init__(self, engine: AsyncEngine, statement: Any, columns: Sequence[str]) -> None:
        self._engine = engine
        self._statement = statement
        self._driver = engine.dialect.name == "sqlite"
        if self._driver:
            compiled = statement.compile(dialect=engine.dialect, column_keys=list(columns))
            self._sql = compiled.string
            self._names = tuple(compiled.positiontup or ())
            self._processors = {
                name: processor
                for name, bind in compiled.binds.items()
                if (processor := bind.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)) is not None
            }

    async def rows(self, values: dict[str, Any], *, urgent: bool = False) -> list[tuple[Any, ...]]:
        """Run the statement with ``values`` and commit; the rows it returned."""
        if not self._driver:
            async with write_transaction(self._engine, urgent=urgent, immediate=False) as conn:
                return [tuple(row) for row in await conn.execute(self._statement, values)]
        parameters = [self._processors[n](values[n]) if n in self._processors else values[n] for n in self._names]

        def run() -> list[tuple[Any, ...]]:  # in one greenlet: checkout, statement, return to the pool
            pooled = self._engine.sync_engine.raw_connection()
            try:
                driver = pooled.driver_connection
                assert driver is not None  # a checked-out connection has its driver's
                level = driver.isolation_level
                driver.isolation_level = None  # autocommit: the statement commits as it completes
                try:
                    return [tuple(row) for row in await_only(driver.execute_fetchall(self._sql, parameters))]
                except sqlite3.Error as error:
                    raise DBAPIError.instance(self._sql, parameters, error, sqlite3.Error) from error
                finally:
                    driver.isolation_level = level
            finally:
                pooled.close()  # back to the pool (its reset may talk to the driver: still in the greenlet)

        async with _writers(self._engine).turn(urgent):
            return await greenlet_spawn(run)


def _writers(engine: AsyncEngine) -> _Writers:
    writers = _WRITERS.get(engine.sync_engine)
    if writers is None:
        writers = _WRITERS[engine.sync_engine] = _Writers()
    return writers


async def begin_write(conn: AsyncConnection) -> None:
    """Start ``conn``'s transaction as a writer.

    SQLite: ``BEGIN IMMEDIATE`` waits (``busy_timeout``) for the one write lock up
    front, so a transaction that reads before it writes never fails half-way on a
    stale snapshot, and writers queue instead of erroring. Other dialects lock rows.
    """
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("BEGIN IMMEDIATE")


async def lock_for_migration(conn: AsyncConnection) -> None:
    """Serialise schema changes: two processes starting at once migrate one after the other."""
    await begin_write(conn)
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))


async def sqlite_pragma(conn: AsyncConnection, name: str) -> Any:
    """The value of ``PRAGMA name`` on ``conn`` (for checks and tests)."""
    if not name.isidentifier():
        raise ValueError(f"not a pragma name: {name!r}")
    return (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()


def _check_url(url: str) -> URL:
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError) as err:
        raise UnsupportedDatabase(f"The database URL '{_redacted(url)}' cannot be used: {err}") from err
    if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
        raise UnsupportedDatabase(
            f"The database URL '{parsed.render_as_string(hide_password=True)}' names the dialect "
            f"'{parsed.get_backend_name()}'; Nik supports {', '.join(SUPPORTED_DIALECTS)}."
        )
    if not getattr(dialect, "is_async", False):
        raise UnsupportedDatabase(
            f"The database URL '{parsed.render_as_string(hide_password=True)}' names a synchronous driver; "
            "use an async one such as sqlite+aiosqlite:// or postgresql+asyncpg://."
        )
    return parsed


def _redacted(url: str) -> str:
    """``url`` without a password, also when it does not parse."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            _execute_when_unlocked(cursor, pragma)
    finally:
        cursor.close()


def _reset_sqlite(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
    """The pool's reset of a returning SQLite connection: a rollback only when one is open
    (SQLAlchemy's default rolls back every time; on aiosqlite that is a thread round trip)."""
    if state.terminate_only or not state.asyncio_safe or state.transaction_was_reset:
        return
    if dbapi_connection.driver_connection.in_transaction:
        dbapi_connection.rollback()


def _execute_when_unlocked(cursor: Any, statement: str) -> None:
    """Execute ``statement``, retrying briefly while the file is locked.

    SQLite does not wait on ``busy_timeout`` for a journal-mode switch: when two
    processes open a new file at once, one switch to WAL fails with "database is
    locked". The mode is stored in the file, so this happens once per database, at
    start-up; a short blocking retry (tenacity: ``_LOCKED_ATTEMPTS`` × ``_LOCKED_PAUSE`` s)
    covers it. It blocks because SQLAlchemy's ``connect`` event is synchronous.
    """
    retrying = Retrying(
        stop=stop_after_attempt(_LOCKED_ATTEMPTS),
        wait=wait_fixed(_LOCKED_PAUSE),
        retry=retry_if_exception(_locked),
        reraise=True,
    )
    retrying(cursor.execute, statement)


def _locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
