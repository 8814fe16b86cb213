"""Storage fixtures: a real SQLite file in each test's ``tmp_path`` and a clock the test moves."""

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
def db_url(data_dir: Path) -> str:
    return database_url(data_dir, None)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(db_url: str, clock: ManualClock) -> AsyncIterator[Store]:
    """A migrated store on this test's own SQLite file, stamping ``clock``'s time."""
    opened = await Store.open(db_url, clock=clock)
    yield opened
    await opened.close()
