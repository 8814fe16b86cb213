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
begins (:func:`begin_write`, :func:`lock_for_migration`), and the statements that skip
SQLAlchemy's driver adapter on SQLite (:class:`Prepared`, run by :func:`run_unit` — a
turn's read and its write — and :class:`OneStatementWrite`, the inbox's store).
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections import deque, namedtuple
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeAlias, TypeVar

from sqlalchemy import event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
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
T = TypeVar("T")
R = TypeVar("R")


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


class Prepared:
    """A statement compiled once for ``engine``, run by a :class:`Unit` or a
    :class:`OneStatementWrite`.

    On SQLite it runs straight on the pooled connection's aiosqlite connection: SQLAlchemy's
    aiosqlite adapter makes three or four round trips to the driver's thread per statement
    (cursor, execute, fetch, close) and compiles and processes on the way, which made a
    turn's two-statement read and four-statement write cost three times the statements
    themselves. Here a statement is one round trip: parameters go through the columns'
    bind processors, rows come back through their result processors as named tuples
    (attribute access, like SQLAlchemy's rows). Other dialects run ``statement`` through
    SQLAlchemy as it is.

    ``columns`` are the columns an ``INSERT`` sets; the values must give each of them (no
    column default is applied on SQLite) and every other bound parameter.
    """

    def __init__(self, engine: AsyncEngine, statement: Any, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        dialect = engine.dialect
        self.on_driver = dialect.name == "sqlite"
        if not self.on_driver:
            return
        compiled = statement.compile(dialect=dialect, column_keys=None if columns is None else list(columns))
        self.sql: str = compiled.string
        self._names = tuple(compiled.positiontup or ())
        self._binds = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        # values the statement carries itself, such as the OFFSET 0 of SQLite's LIMIT
        self._fixed = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        returned = list(getattr(statement, "exported_columns", ()))
        self._results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in returned)
        self._row: Callable[..., Any] = namedtuple("Row", [c.key for c in returned], rename=True)  # type: ignore[misc]

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        """The driver's positional parameters for ``values`` (a missing one raises ``KeyError``)."""
        given = [values[n] if n in values or n not in self._fixed else self._fixed[n] for n in self._names]
        return [self._binds[n](v) if n in self._binds else v for n, v in zip(self._names, given, strict=True)]

    def rows(self, raw: Iterable[Sequence[Any]]) -> list[Any]:
        """The driver's rows as named tuples of typed values."""
        return [self._row(*(v if p is None else p(v) for p, v in zip(self._results, row, strict=True))) for row in raw]


class Unit(Protocol):
    """The statements of one :func:`run_unit`, run synchronously in its greenlet."""

    def rows(self, prepared: Prepared, values: Mapping[str, Any]) -> list[Any]:
        """Run ``prepared`` with ``values``; the rows it returned (attribute access by column key)."""
        ...

    def many(self, prepared: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run ``prepared`` once per row of values (``executemany``)."""
        ...


async def run_unit(engine: AsyncEngine, body: Callable[[Unit], T], *, write: bool, urgent: bool = False) -> T:
    """Run ``body``'s statements on one pooled connection: a unit of work in one greenlet.

    One transaction, committed when ``body`` returns and rolled back when it raises.
    ``write=True``: on SQLite it queues with this process's writers (:func:`write_transaction`)
    and, as its first statement should write, takes SQLite's lock there (``busy_timeout``).
    ``write=False``: reads only (on SQLite a deferred ``BEGIN``: one snapshot, never the
    write lock; elsewhere the dialect's default isolation). A driver error is raised as
    SQLAlchemy's ``DBAPIError``."""
    if engine.dialect.name != "sqlite":
        async with engine.begin() if write else engine.connect() as conn:
            return await conn.run_sync(lambda sync: body(_ConnectionUnit(sync)))
    if not write:
        return await greenlet_spawn(_on_driver, engine, body, "BEGIN")
    async with _writers(engine).turn(urgent):
        return await greenlet_spawn(_on_driver, engine, body, None)


def _on_driver(engine: AsyncEngine, body: Callable[[Unit], T], begin: str | None, autocommit: bool = False) -> T:
    """``body`` on a pooled SQLite connection's driver; checkout, commit and the return to the
    pool all in this greenlet, so a cancelled caller cannot leave a transaction open.
    ``autocommit``: each statement commits as it completes (the connection's mode is restored)."""
    pooled = engine.sync_engine.raw_connection()
    try:
        driver = pooled.driver_connection
        assert driver is not None  # a checked-out connection has its driver's
        level = driver.isolation_level
        if autocommit:
            driver.isolation_level = None
        try:
            if begin is not None:  # else sqlite3 begins before the first write
                _driver_call(begin, [], driver.execute(begin))
            result = body(_DriverUnit(driver))
            if driver.in_transaction:
                _driver_call("COMMIT", [], driver.commit())
            return result
        except BaseException:
            if driver.in_transaction:
                await_only(driver.rollback())
            raise
        finally:
            if autocommit:
                driver.isolation_level = level
    finally:
        pooled.close()  # back to the pool (its reset may talk to the driver: still in the greenlet)


class _DriverUnit:
    def __init__(self, driver: Any) -> None:
        self._driver = driver

    def rows(self, prepared: Prepared, values: Mapping[str, Any]) -> list[Any]:
        parameters = prepared.parameters(values)
        call = self._driver.execute_fetchall(prepared.sql, parameters)
        return prepared.rows(_driver_call(prepared.sql, parameters, call))

    def many(self, prepared: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
        parameters = [prepared.parameters(row) for row in rows]
        _driver_call(prepared.sql, parameters, self._driver.executemany(prepared.sql, parameters))


class _ConnectionUnit:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def rows(self, prepared: Prepared, values: Mapping[str, Any]) -> list[Any]:
        result = self._conn.execute(prepared.statement, dict(values))
        return list(result.all()) if result.returns_rows else []

    def many(self, prepared: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
        self._conn.execute(prepared.statement, [dict(row) for row in rows])


def _driver_call(sql: str, parameters: Any, call: Awaitable[R]) -> R:
    """Await the driver's ``call`` in the greenlet, its errors raised as SQLAlchemy's."""
    try:
        return await_only(call)
    except sqlite3.Error as error:
        raise DBAPIError.instance(sql, parameters, error, sqlite3.Error) from error


class OneStatementWrite:
    """A write of one statement with ``RETURNING``, committed on its own, as cheap as the
    driver allows: for the webhook's and the poller's store-before-acknowledge.

    On SQLite the :class:`Prepared` statement runs in autocommit mode: one round trip to
    the driver's thread, the statement committing as it completes (one statement is
    atomic; durable as any commit under WAL), no ``COMMIT`` after it. It still queues
    with this process's writers (:func:`write_transaction`), waits on ``busy_timeout`` for
    other processes, and a driver error is raised as SQLAlchemy's (``DBAPIError``). A call
    cancelled while the driver runs the statement may still have committed it; for the
    inbox that is a row stored but not queued, taken over when its lease runs out, as
    after a crash. Other dialects run the statement through SQLAlchemy as it is.
    ``columns``: as for :class:`Prepared`. The rows come as plain tuples.
    """

    def __init__(self, engine: AsyncEngine, statement: Any, columns: Sequence[str]) -> None:
        self._engine = engine
        self._prepared = Prepared(engine, statement, columns)

    async def rows(self, values: dict[str, Any], *, urgent: bool = False) -> list[tuple[Any, ...]]:
        """Run the statement with ``values`` and commit; the rows it returned."""
        prepared = self._prepared
        if not prepared.on_driver:
            async with write_transaction(self._engine, urgent=urgent, immediate=False) as conn:
                return [tuple(row) for row in await conn.execute(prepared.statement, values)]

        def one(unit: Unit) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in unit.rows(prepared, values)]

        async with _writers(self._engine).turn(urgent):
            return await greenlet_spawn(_on_driver, self._engine, one, None, True)


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
