"""The cost of re-loading one stored month of performance rows on a large store.

    python bench/reload.py --db /tmp/copy-of-1m.duckdb                 # the latest month
    python bench/reload.py --db /tmp/copy.duckdb --month 2026-10 --repeat 2

Reads the month's rows back from the store as the tape's performance columns, loads them
again through ``data.importer.load_tables`` (validation, the in-place replace of every
stored row, the roll-summary refresh) and prints the wall and CPU time of the whole load
and of its stages (from the importer's progress messages). The transaction is rolled back
after each run, so the store is left as it was, unless ``--commit`` (then the commit is
timed too: the rows written are the stored ones, only their batch changes). Either way,
point it at a COPY of a store (the file is opened for writing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from data.engine import make_engine  # noqa: E402
from data.importer import SPECS, load_tables  # noqa: E402
from data.read import month_end  # noqa: E402
from data.store import store_region_set  # noqa: E402


def _month_rows(conn: sa.Connection, month: dt.date):  # noqa: ANN202
    cols = [s.name for s in SPECS["performance"]]
    sel = ", ".join(f'"{c}"' if c != "classification" else '"classification_reported" AS "classification"' for c in cols)
    rel = conn.connection.driver_connection.sql(f"SELECT {sel} FROM performance WHERE as_of = DATE '{month}'")
    return rel.df()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True, help="a COPY of a DuckDB store (opened for writing)")
    ap.add_argument("--month", help="YYYY-MM (default: the latest stored month)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--commit", action="store_true", help="commit each re-load (and time the commit)")
    ap.add_argument("--new-month", action="store_true",
                    help="load the month's rows as the month after the latest stored one (inserts, not a re-load)")
    args = ap.parse_args()

    eng = make_engine(f"duckdb:///{args.db}")
    with eng.connect() as conn:
        if args.month:
            month = month_end(dt.date.fromisoformat(args.month + "-01"))
        else:
            month = conn.execute(sa.text("SELECT MAX(as_of) FROM performance")).scalar_one()
        frame = _month_rows(conn, month)
        if args.new_month:
            latest = conn.execute(sa.text("SELECT MAX(as_of) FROM performance")).scalar_one()
            frame["as_of"] = month_end(latest + dt.timedelta(days=1))
            if args.commit:
                raise SystemExit("--new-month is always rolled back (it would add a month to the store)")
        region_set = store_region_set(conn)
        conn.rollback()
    what = f"{month:%Y-%m} loaded as the new month {frame['as_of'].iloc[0]:%Y-%m}" if args.new_month else f"re-load of {month:%Y-%m}"
    print(f"store {args.db}: {what}, {len(frame):,} rows; load {os.getloadavg()[0]:.1f}")
    for run in range(args.repeat):
        stages: list[tuple[float, str]] = []
        commit_s = 0.0
        t0 = time.perf_counter()
        c0 = time.process_time()

        def progress(f: float, msg: str) -> None:
            stages.append((time.perf_counter() - t0, msg))

        with eng.connect() as conn:
            tx = conn.begin()
            try:
                report = load_tables(conn, {"performance": frame}, region_set=region_set, currency="CNY",
                                     progress=progress)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                if args.commit and report.ok:
                    tc = time.perf_counter()
                    tx.commit()
                    stages.append((time.perf_counter() - t0, "commit"))
                    commit_s = time.perf_counter() - tc
            finally:
                if tx.is_active:
                    tx.rollback()
        if not report.ok:
            raise SystemExit(f"the re-load was rejected: {report.rejections[:3]}")
        committed = f" + commit {commit_s:.2f} s" if args.commit else ""
        print(f"run {run + 1}: {wall:.2f} s wall{committed}, {cpu:.2f} s CPU (replaced "
              f"{report.performance_replaced:,} rows); load {os.getloadavg()[0]:.1f}")
        prev = 0.0
        last = None
        for t, msg in stages:
            key = msg.split(":")[0]
            if key != last:
                print(f"  {t:7.2f} s  (+{t - prev:5.2f})  {msg}")
                prev, last = t, key
    eng.dispose()


if __name__ == "__main__":
    main()
