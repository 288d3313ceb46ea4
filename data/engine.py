"""The SQLAlchemy engine for the configured store, and schema upgrades.

DuckDB and PostgreSQL are both first-class. An embedded DuckDB file allows one writing
process at a time, so Daihou never keeps it open for long: the command line opens it per
use (``NullPool``), and the app (``linger_s``) keeps its connections only while it is busy
and closes them all after ``linger_s`` seconds without a query, so a load from the command
line while the app runs still gets in (it waits up to 30 s). Opening a large file costs tens
of milliseconds, which a page of a dozen reads would otherwise pay a dozen times. When
another process does hold the file, :class:`StoreBusyError` says which file and what to do.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool, QueuePool, StaticPool

from data.config import settings

__all__ = ["StoreBusyError", "make_engine", "upgrade", "schema_is_current", "dialect_of"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class DuckDBImpl(DefaultImpl):
    """Alembic has no DuckDB implementation of its own; the default one is enough."""

    __dialect__ = "duckdb"
    transactional_ddl = True


class StoreBusyError(RuntimeError):
    """The embedded store is held by another process."""


_LOCK_RE = re.compile(r"Could not set lock on file|Conflicting lock", re.I)


_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.I)


def duckdb_memory_limit(value: str | None) -> str | None:
    """DuckDB's ``memory_limit`` from the ``duckdb_memory`` setting: ``"2GB"`` → ``"2GB"``,
    ``"none"`` / empty → ``None`` (DuckDB's default). Anything else raises ``ValueError``
    naming the setting (the value goes into a SET statement, so only a size is accepted)."""
    if value is None or value.strip().lower() in ("", "none"):
        return None
    m = _MEMORY_RE.match(value)
    if not m:
        raise ValueError(
            f"DAIHOU_DUCKDB_MEMORY / duckdb_memory must be a size such as 2GB or 1536MB, or 'none'; got {value!r}"
        )
    return f"{m.group(1)}{m.group(2)}"


def _close_when_idle(engine: Engine, linger_s: float) -> None:
    """Close every pooled connection of ``engine`` once none has been in use for ``linger_s`` s."""
    state = {"timer": None}
    guard = threading.Lock()

    @sa.event.listens_for(engine, "connect")
    def _remember_pool(dbapi_conn, conn_rec):  # noqa: ANN001
        conn_rec.info["pool"] = engine.pool

    def close_if_idle() -> None:
        with guard:
            state["timer"] = None
            if engine.pool.checkedout() == 0:
                engine.dispose()  # closes the idle connections: the file is let go

    @sa.event.listens_for(engine, "checkin")
    def _rearm(dbapi_conn, conn_rec):  # noqa: ANN001
        if dbapi_conn is not None and conn_rec.info.get("pool") is not engine.pool:
            # taken from a pool disposed meanwhile (a race with close_if_idle): close it now
            # rather than leave it open in the old pool, holding the file
            dbapi_conn.close()
            return
        with guard:
            if state["timer"] is not None:
                state["timer"].cancel()
            timer = threading.Timer(linger_s, close_if_idle)
            timer.daemon = True
            state["timer"] = timer
            timer.start()


def make_engine(url: str | None = None, *, busy_timeout_s: float = 30.0, linger_s: float | None = None) -> Engine:
    """An engine for ``url`` (default: the configured store).

    For a DuckDB file the engine opens the file per connection and closes it after; with
    ``linger_s`` (the app) it keeps up to a few connections open and closes them all once
    none has been used for ``linger_s`` seconds. A connection attempt waits up to
    ``busy_timeout_s`` seconds for another process to let go of the file before raising
    :class:`StoreBusyError`. Each DuckDB connection gets the
    configured ``memory_limit`` (``data.config``: ``DAIHOU_DUCKDB_MEMORY``, default 2GB).
    """
    url = url or settings().db_url
    u = sa.engine.make_url(url)
    if u.get_backend_name() != "duckdb":
        return sa.create_engine(url, pool_pre_ping=True)
    memory = u.database in (None, "", ":memory:")
    if not memory:
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    if memory:
        engine = sa.create_engine(url, poolclass=StaticPool)
    elif linger_s:
        engine = sa.create_engine(url, poolclass=QueuePool, pool_size=4, max_overflow=8)
        _close_when_idle(engine, linger_s)
    else:
        engine = sa.create_engine(url, poolclass=NullPool)

    memory_limit = duckdb_memory_limit(settings().duckdb_memory)

    @sa.event.listens_for(engine, "connect")
    def _quiet(dbapi_conn, conn_rec):  # noqa: ANN001
        # No progress bar: DuckDB would draw one on the server's terminal for long queries.
        dbapi_conn.execute("SET enable_progress_bar = false")
        if memory_limit is not None:
            dbapi_conn.execute(f"SET memory_limit = '{memory_limit}'")

    if memory:
        return engine

    @sa.event.listens_for(engine, "do_connect")
    def _connect_with_patience(dialect, conn_rec, cargs, cparams):  # noqa: ANN001
        deadline = time.monotonic() + busy_timeout_s
        while True:
            try:
                return dialect.connect(*cargs, **cparams)
            except Exception as exc:  # duckdb.IOException
                if not _LOCK_RE.search(str(exc)):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"The store {u.database} is in use by another process "
                        f"({str(exc).splitlines()[-1].strip()}). DuckDB lets one process write "
                        "at a time: wait for the other load to finish, or stop that process, "
                        "then run this again. To load while the app is open, use the app's "
                        "Data page, or put the store on PostgreSQL (DAIHOU_DB_URL)."
                    ) from exc
                time.sleep(0.25)

    return engine


def dialect_of(conn_or_engine) -> str:  # noqa: ANN001
    """``duckdb`` or ``postgresql`` (or another SQLAlchemy dialect name)."""
    return conn_or_engine.dialect.name


def _alembic_config(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def _head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def schema_is_current(engine: Engine) -> bool:
    """True when the store is at the latest migration."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current == _head()


def upgrade(engine: Engine) -> None:
    """Bring a new or older store to the latest schema (a no-op when current)."""
    if schema_is_current(engine):
        return
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
