"""The embedded store stays usable while another process has it open."""

import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from data.engine import StoreBusyError, make_engine, upgrade


def _hold(path, seconds):
    code = textwrap.dedent(f"""
        import duckdb, time, sys
        c = duckdb.connect({str(path)!r})
        print("held", flush=True)
        time.sleep({seconds})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_busy_store_says_what_to_do(tmp_path):
    path = tmp_path / "store.duckdb"
    upgrade(make_engine(f"duckdb:///{path}"))
    holder = _hold(path, 30)
    try:
        eng = make_engine(f"duckdb:///{path}", busy_timeout_s=0.5)
        with pytest.raises(StoreBusyError) as err:
            with eng.connect():
                pass
        msg = str(err.value)
        assert str(path) in msg and "one process" in msg and "DAIHOU_DB_URL" in msg
    finally:
        holder.kill()
        holder.wait()


def test_waits_for_a_brief_holder(tmp_path):
    """A process that lets go within the wait (as the app does between reads) is waited for."""
    path = tmp_path / "store.duckdb"
    upgrade(make_engine(f"duckdb:///{path}"))
    holder = _hold(path, 1.5)
    try:
        eng = make_engine(f"duckdb:///{path}", busy_timeout_s=20)
        t0 = time.monotonic()
        with eng.connect() as c:
            assert c.execute(sa.text("select 1")).scalar() == 1
        assert time.monotonic() - t0 > 0.5
    finally:
        holder.kill()
        holder.wait()


def test_engine_does_not_keep_the_file_open(tmp_path):
    """After a read the app's engine lets go, so another process can write."""
    path = tmp_path / "store.duckdb"
    eng = make_engine(f"duckdb:///{path}")
    upgrade(eng)
    with eng.connect() as c:
        c.execute(sa.text("select 1"))
    out = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r}).execute('create table t(x int)'); print('ok')"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_duckdb_memory_limit_setting_is_parsed_strictly():
    from data.engine import duckdb_memory_limit

    assert duckdb_memory_limit("2GB") == "2GB"
    assert duckdb_memory_limit(" 1536 mb ") == "1536mb"
    assert duckdb_memory_limit("none") is None and duckdb_memory_limit("") is None
    for bad in ("2", "lots", "1GB'; DROP TABLE loans; --"):
        with pytest.raises(ValueError, match="DAIHOU_DUCKDB_MEMORY"):
            duckdb_memory_limit(bad)


@pytest.mark.parametrize(("setting", "expected_bytes"), [(None, 2e9), ("512MB", 512e6)])
def test_every_duckdb_connection_gets_the_memory_limit(tmp_path, monkeypatch, setting, expected_bytes):
    """The default 2GB (or DAIHOU_DUCKDB_MEMORY) caps DuckDB's memory on each new connection."""
    if setting is None:
        monkeypatch.delenv("DAIHOU_DUCKDB_MEMORY", raising=False)
    else:
        monkeypatch.setenv("DAIHOU_DUCKDB_MEMORY", setting)
    engine = make_engine(f"duckdb:///{tmp_path / 'm.duckdb'}")
    with engine.connect() as c:
        limit = c.exec_driver_sql("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").scalar_one()
    number, unit = limit.split()
    reported = float(number) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "MB": 1e6, "GB": 1e9}[unit]
    assert reported == pytest.approx(expected_bytes, rel=0.05)  # DuckDB prints e.g. "1.8 GiB" for 2GB


def test_app_engine_reuses_its_connection_then_lets_the_file_go_when_idle(tmp_path):
    """linger_s (the app): reads in a burst share one open file; once idle for linger_s the file
    is closed, so another process (a load from the command line) can open it for writing."""
    path = tmp_path / "store.duckdb"
    upgrade(make_engine(f"duckdb:///{path}"))
    eng = make_engine(f"duckdb:///{path}", linger_s=0.5)
    seen = []
    for _ in range(3):
        with eng.connect() as c:
            c.execute(sa.text("SELECT 1")).scalar_one()
            seen.append(id(c.connection.dbapi_connection))
    assert len(set(seen)) == 1  # one open connection reused
    code = f"import duckdb; duckdb.connect({str(path)!r}).execute('CREATE TABLE other_process (x INT)'); print('wrote')"
    busy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert busy.returncode != 0 and "lock" in busy.stderr.lower()  # held while the app is busy
    time.sleep(1.5)
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert free.returncode == 0 and free.stdout.strip() == "wrote", free.stderr
    with eng.connect() as c:  # the app opens the file again on its next read and sees the write
        assert c.execute(sa.text("SELECT count(*) FROM other_process")).scalar_one() == 0
    eng.dispose()
