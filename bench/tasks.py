"""Benchmark tasks, each run in its own process by ``bench/run.py`` (so peak memory is its own).

``python -m bench.tasks NAME [ARGS]`` prints one JSON line of figures.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path


def _engine(url: str | None):
    from data.engine import make_engine, upgrade

    eng = make_engine(url)
    upgrade(eng)
    return eng


def generate_and_load(n_loans: int, n_months: int, url: str) -> dict:
    """Generate a demo portfolio of n_loans × n_months into a fresh store (the first-run path)."""
    from data.generate import generate_into

    eng = _engine(url)
    t0 = time.perf_counter()
    generate_into(eng, n_loans, n_months, 42)
    return {"seconds": time.perf_counter() - t0}


def write_tape(n_loans: int, n_months: int, out_dir: str) -> dict:
    """Write a generated tape as CSV files (the input of the import benchmark)."""
    from data.generate import write_tape as _write

    t0 = time.perf_counter()
    _write(Path(out_dir), n_loans, n_months, 7, fmt="csv")
    return {"seconds": time.perf_counter() - t0}


def import_performance(tape_dir: str, url: str, rows: int) -> dict:
    """Validate and load a performance CSV of ``rows`` rows (its loans loaded beforehand, untimed)."""
    import pandas as pd

    from data.importer import load_files

    tape = Path(tape_dir)
    perf = tape / "performance.csv"
    cut = tape / f"performance_{rows}.csv"
    if not cut.exists():
        pd.read_csv(perf, nrows=rows, dtype=str).to_csv(cut, index=False)
    eng = _engine(url)
    pre = load_files(eng, {"loans": tape / "loans.csv"})
    assert pre.ok, pre.summary()
    t0 = time.perf_counter()
    rep = load_files(eng, {"performance": cut})
    assert rep.ok, rep.summary()
    return {"seconds": time.perf_counter() - t0, "rows": rep.performance_rows}


def kpi_report(url: str) -> dict:
    """The full KPI report (every month, with regions and PSI), warm, beside the naive way:
    the whole performance table read into pandas and aggregated there."""
    import numpy as np
    import pandas as pd
    import sqlalchemy as sa

    from data.read import Filters, Scope
    from data.reports import kpi_report as report

    eng = _engine(url)
    with eng.connect() as conn:
        report(conn, Scope.all(), Filters())  # warm the store's caches
        t0 = time.perf_counter()
        rep = report(conn, Scope.all(), Filters())
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        if conn.dialect.name == "duckdb":  # DuckDB's own fastest whole-table path (Arrow)
            perf = conn.connection.driver_connection.execute("SELECT * FROM performance").df()
        else:
            perf = pd.read_sql_query(sa.text("SELECT * FROM performance"), conn)
        book = perf[perf["status"] == "active"]
        bal = book["outstanding_principal"].astype(float)
        for k in (0, 30, 90):
            book.assign(b=np.where(book["dpd"] > k, bal, 0.0)).groupby(["as_of", "region_code"])["b"].sum()
        book.assign(b=bal).groupby(["as_of", "region_code", "classification"])["b"].sum()
        naive = time.perf_counter() - t0
    return {"seconds": ours, "naive_seconds": naive, "months": len(rep["months"])}


TASKS = {
    "kpi_report": kpi_report,"generate_and_load": generate_and_load, "write_tape": write_tape, "import_performance": import_performance}

if __name__ == "__main__":
    name, *args = sys.argv[1:]
    fn = TASKS[name]
    conv = [int(a) if a.isdigit() else a for a in args]
    print(json.dumps(fn(*conv)))
