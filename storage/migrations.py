"""Schema versions: an ordered list of steps, applied in one transaction.

The database records its version in the single row of ``schema_version`` (no such
table: version 0, an empty database). :func:`migrate` takes the write lock, applies
every step above the recorded version in order, records the new version and
commits — all or nothing, and a second process starting at the same moment waits
and then finds nothing to do.

Adding a table needs no copy: its step creates it with ``checkfirst`` (a new
database already has it from step 1). Dropping one needs none either: its step drops
it with ``checkfirst`` (a new database never had it).

Adding a version: append a ``Migration(n, …)`` whose ``apply`` alters the tables
(through SQLAlchemy constructs, so that it runs on every supported dialect) and
change ``models.py`` to match. Step 1 builds the tables from ``models.py``, so a step
that adds a column adds it only where it is missing (step 6), and a new database and
an upgraded one end identical (``test_migrations`` compares a migrated database with
the models).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, MetaData, String, Table, insert, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import lock_for_migration
from storage.errors import SchemaTooNew
from storage.models import (
    Base,
    Confirmation,
    Device,
    InboxItem,
    Message,
    SchemaVersion,
    SupportCase,
    SupportCounter,
    SupportPost,
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]  # runs inside the migration's transaction


def _create_tables(conn: Connection) -> None:
    Base.metadata.create_all(conn)


def _create_inbox(conn: Connection) -> None:
    InboxItem.__table__.create(conn, checkfirst=True)  # type: ignore[attr-defined]


def _drop_processed_messages(conn: Connection) -> None:
    """The inbox's unique key is the one de-duplication; its older twin goes."""
    Table("processed_messages", MetaData()).drop(conn, checkfirst=True)


def _create_support_cases(conn: Connection) -> None:
    for model in (SupportCase, SupportPost, SupportCounter):
        model.__table__.create(conn, checkfirst=True)  # type: ignore[attr-defined]


def _create_devices_and_confirmations(conn: Connection) -> None:
    Device.__table__.create(conn, checkfirst=True)  # type: ignore[attr-defined]
    Confirmation.__table__.create(conn, checkfirst=True)  # type: ignore[attr-defined]


def _add_message_kind(conn: Connection) -> None:
    """Nik's replies say what they were (answer, not found, question back …), for /report. Step 1 builds
    ``messages`` from the models, with the column: only a database made before this step gains it."""
    table = Message.__tablename__
    if "kind" in {column["name"] for column in inspect(conn).get_columns(table)}:
        return
    column_type = String(32).compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN kind {column_type}"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create all tables", _create_tables),
    Migration(2, "inbox: platform updates stored before they are acknowledged", _create_inbox),
    Migration(3, "drop processed_messages: the inbox de-duplicates", _drop_processed_messages),
    Migration(4, "support cases: hand-offs to the support team, their posts, the case counter", _create_support_cases),
    Migration(5, "devices per chat and pending confirmations (/device, /forget)", _create_devices_and_confirmations),
    Migration(6, "messages.kind: what each of Nik's replies was (/report)", _add_message_kind),
)
LATEST = MIGRATIONS[-1].version


async def migrate(engine: AsyncEngine) -> int:
    """Bring the database to :data:`LATEST`; return the version it is at now.

    Raises :class:`SchemaTooNew` when a newer Nik has already migrated it."""
    async with engine.begin() as conn:
        await lock_for_migration(conn)
        version = await _read_version(conn)
        if version > LATEST:
            raise SchemaTooNew(version, LATEST)
        pending = [step for step in MIGRATIONS if step.version > version]
        for step in pending:
            await conn.run_sync(step.apply)
        if pending:
            await _write_version(conn, had_row=version > 0, version=pending[-1].version)
            version = pending[-1].version
    return version


async def schema_version(engine: AsyncEngine) -> int:
    """The version the database records; 0 for an empty database."""
    async with engine.connect() as conn:
        return await _read_version(conn)


async def _read_version(conn: AsyncConnection) -> int:
    if not await conn.run_sync(lambda sync: inspect(sync).has_table(SchemaVersion.__tablename__)):
        return 0
    version = await conn.scalar(select(SchemaVersion.version).where(SchemaVersion.id == 1))
    return version or 0


async def _write_version(conn: AsyncConnection, *, had_row: bool, version: int) -> None:
    if had_row:
        await conn.execute(update(SchemaVersion).where(SchemaVersion.id == 1).values(version=version))
    else:
        await conn.execute(insert(SchemaVersion).values(id=1, version=version))
