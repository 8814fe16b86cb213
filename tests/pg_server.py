"""A throwaway PostgreSQL server for the storage tests, on loopback, in a temp dir.

``NIK_TEST_POSTGRES_URL`` names a server to use instead (an admin URL such as
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``). Otherwise the tests
look for the server binaries (``pg_ctl`` on PATH or Debian's
``/usr/lib/postgresql/<n>/bin``), ``initdb`` a cluster into a temp dir and start it
on 127.0.0.1 with a free port. PostgreSQL refuses to run as root: as root the
cluster is owned by and run as the ``postgres`` user (Debian's package makes it).

Each test gets its own fresh database (:meth:`PostgresServer.create_database`),
dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

URL_VARIABLE = "NIK_TEST_POSTGRES_URL"
_USER = "nik"
_START_TIMEOUT = 60


class NoPostgres(Exception):
    """No PostgreSQL server could be found or started here; ``str`` says why."""


@dataclass
class PostgresServer:
    admin_url: str  # postgresql+asyncpg://…/postgres, a superuser
    data_dir: Path | None = None  # set when this process started the server
    run_as: str | None = None

    def url_for(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    async def create_database(self) -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"nik_test_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(self._dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url_for(name)

    async def drop_database(self, url: str) -> None:
        name = make_url(url).database
        conn = await asyncpg.connect(self._dsn())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    def stop(self) -> None:
        if self.data_dir is None:
            return
        pg_ctl = _binary("pg_ctl")
        if pg_ctl is not None:
            _run([str(pg_ctl), "stop", "-D", str(self.data_dir), "-m", "immediate"], self.run_as, check=False)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)
        self.data_dir = None

    def _dsn(self) -> str:
        return make_url(self.admin_url).set(drivername="postgresql").render_as_string(hide_password=False)


def start() -> PostgresServer:
    """The server named by ``NIK_TEST_POSTGRES_URL``, else a throwaway one (raises :class:`NoPostgres`)."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        return PostgresServer(given)
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise NoPostgres("no PostgreSQL server binaries (initdb, pg_ctl) found; install Debian's 'postgresql'")
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise NoPostgres("running as root and there is no 'postgres' user to run the server as") from None
        run_as = "postgres"
    root = Path(tempfile.mkdtemp(prefix="nik-pg-"))
    data_dir = root / "data"
    if run_as is not None:
        account = pwd.getpwnam(run_as)
        os.chown(root, account.pw_uid, account.pw_gid)
    port = _free_port()
    try:
        _run([str(initdb), "-D", str(data_dir), "-U", _USER, "-A", "trust", "-E", "UTF8", "--no-sync"], run_as)
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=300"
        )
        log = root / "server.log"
        _run(
            [str(pg_ctl), "start", "-w", "-t", str(_START_TIMEOUT), "-D", str(data_dir), "-l", str(log), "-o", options],
            run_as,
        )
    except NoPostgres as err:
        server_log = (root / "server.log").read_text(errors="replace")[-2000:] if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise NoPostgres(f"{err}\n{server_log}".strip()) from None
    return PostgresServer(f"postgresql+asyncpg://{_USER}@127.0.0.1:{port}/postgres", data_dir, run_as)


def _binary(name: str) -> Path | None:
    found = shutil.which(name)
    if found:
        return Path(found)
    versions = [p for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}") if p.parts[-3].isdigit()]
    return max(versions, key=lambda p: int(p.parts[-3]), default=None)


def _run(command: Sequence[str], run_as: str | None, *, check: bool = True) -> None:
    if run_as is not None:
        command = ["runuser", "-u", run_as, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=_START_TIMEOUT + 30, cwd="/")
    if check and done.returncode != 0:
        raise NoPostgres(f"`{' '.join(command)}` failed ({done.returncode}): {(done.stderr or done.stdout)[-1500:]}")


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
