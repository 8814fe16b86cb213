"""Storage fixtures: every test runs on a real SQLite file and on a real PostgreSQL database;
a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import database_url
from storage.store import Store
from storage_helpers import ManualClock


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def sqlite_url(data_dir: Path) -> str:
    """This test's own SQLite file (for what only SQLite has: pragmas, WAL, file locks)."""
    return database_url(data_dir, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """This test's own empty database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return sqlite_url
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(db_url: str, clock: ManualClock) -> AsyncIterator[Store]:
    """A migrated store on this test's own database, stamping ``clock``'s time."""
    opened = await Store.open(db_url, clock=clock)
    yield opened
    await opened.close()
