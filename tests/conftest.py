"""Shared fixtures: a fresh, migrated store on DuckDB and on a real PostgreSQL.

``store_url`` is parametrised over both back ends. PostgreSQL comes from
``DAIHOU_TEST_PG_URL`` (an admin URL to an existing server) or, by default, from a
throw-away server this session starts itself with the Debian binaries (``initdb`` and
``pg_ctl`` under /usr/lib/postgresql/*/bin) on a free loopback port. Without them the
PostgreSQL tests skip, unless ``DAIHOU_REQUIRE_PG=1`` (set by ``.ci/run``), which turns
the skip into a failure. ``DAIHOU_NO_SKIPS=1`` fails the run when any test skipped.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from data.engine import make_engine, upgrade

BACKENDS = ("duckdb", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds (run in CI too)")
    config.addinivalue_line("markers", "e2e: drives the app in a real headless browser")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("DAIHOU_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"DAIHOU_NO_SKIPS=1 but {len(skipped)} test(s) skipped: failing the run", red=True)
        session.exitstatus = 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bindir() -> Path | None:
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(d, "initdb").exists():
            return Path(d)
    return None


class _PgServer:
    """A private PostgreSQL cluster in a temporary folder, stopped at the end."""

    def __init__(self, bindir: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="daihou-pg-"))
        self.port = _free_port()
        self.bindir = bindir
        as_root = os.geteuid() == 0
        if as_root:
            shutil.chown(self.dir, "postgres")
        data = self.dir / "data"
        self._run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"], as_root)
        self._run(
            [
                str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(self.dir / "log"),
                "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off",
                "start",
            ],
            as_root,
        )
        self.as_root = as_root
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def _run(cmd: list[str], as_root: bool) -> None:
        if as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        try:
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"], self.as_root)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """Admin URL of a PostgreSQL server for this test session (or skip / fail)."""
    url = os.environ.get("DAIHOU_TEST_PG_URL")
    if url:
        yield url
        return
    bindir = _pg_bindir()
    if bindir is None:
        msg = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.environ.get("DAIHOU_REQUIRE_PG") == "1":
            pytest.fail(msg + " and DAIHOU_REQUIRE_PG=1")
        pytest.skip(msg)
    server = _PgServer(bindir)
    try:
        yield server.admin_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> str:
    """Name of a migrated template database; each test clones it (fast)."""
    name = "daihou_template"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.engine.make_url(pg_admin_url).set(database=name)
    eng = make_engine(url.render_as_string(hide_password=False))
    upgrade(eng)
    eng.dispose()
    admin.dispose()
    return name


def _new_pg_db(admin_url: str, template: str) -> tuple[str, callable]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {template}"))
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return url, drop


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh store at the latest schema, on each back end."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'store.duckdb'}"
        upgrade(make_engine(url))
        yield url
        return
    admin = request.getfixturevalue("pg_admin_url")
    template = request.getfixturevalue("pg_template")
    url, drop = _new_pg_db(admin, template)
    yield url
    drop()


@pytest.fixture
def engine(store_url: str) -> sa.Engine:
    """An engine on a fresh store (both back ends)."""
    eng = make_engine(store_url)
    yield eng
    eng.dispose()


@pytest.fixture
def duckdb_engine(tmp_path: Path) -> sa.Engine:
    """An engine on a fresh embedded store (DuckDB only, for tests of DuckDB behaviour)."""
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a small generated portfolio (1,500 loans × 24 months, seed 7) in an embedded
    store, one per test module (AppTest modules share it between their tests; what a page
    writes, such as alerts or saved scenarios, stays in that module's copy)."""
    from data.generate import generate_into

    path = tmp_path_factory.mktemp("app") / "store.duckdb"
    eng = make_engine(f"duckdb:///{path}")
    upgrade(eng)
    generate_into(eng, 1500, 24, 7)
    eng.dispose()
    return f"duckdb:///{path}"


@pytest.fixture
def app_env(demo_store: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The app pointed at ``demo_store`` (no secrets file)."""
    monkeypatch.setenv("DAIHOU_DB_URL", demo_store)
    monkeypatch.setenv("DAIHOU_SECRETS_FILE", str(tmp_path / "none.toml"))
    return demo_store


@pytest.fixture(scope="module")
def app_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder for one test module (what ``app_cache`` points ``DAIHOU_CACHE_DIR`` at)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def app_cache(app_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``DAIHOU_CACHE_DIR`` set to ``app_cache_dir``: pages that keep a result per store (the
    stress page's PD model, the customer page's CLV segments) share it between the module's
    tests and never write into the repository's ``.cache``."""
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(app_cache_dir))
    return app_cache_dir
