"""Delinquency and classification reads on a large store: SQL reads versus the naive way.

    python bench/delinquency.py                              # the shared 1M-loan store
    python bench/delinquency.py --db /tmp/other.duckdb --repeat 5
    python bench/delinquency.py --no-naive                   # only the SQL reads

Vintage reads group ``performance`` by its ``cohort`` column (migration 0003): on a store
before it the vintage line is skipped (upgrade a copy of the store first).

Roll-rate and cure-rate reads come from the pre-aggregated roll summary when the store has a
current one (``data.summaries``; the header says which); the line "roll trend, live
self-join" times the reference path that reads without it.

Each read of ``data.delinquency`` / ``data.classification`` is run once to warm up, then
``--repeat`` times on the same open connection; the best and the median wall time are
printed. The naive way reads the whole performance table (and the loans) into pandas —
with DuckDB's own fastest path, ``.df()`` — and computes the same figures there; its time
is that read plus the computation, which is what a page doing it would pay. The naive
results are checked against the SQL results, so the script also cross-checks the maths
at scale.

The store is opened read-only (waiting while another process holds it for writing). When
it does not exist it is generated first (``data.generate.generate_into(engine, 1_000_000,
36, 42)``; several minutes). Timings depend on the machine's load: the load average is
printed beside them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analytics import delinquency as dq  # noqa: E402
from analytics.provisions import exception_mask  # noqa: E402
from data import classification as dc  # noqa: E402
from data import delinquency as dd  # noqa: E402
from data import summaries  # noqa: E402
from data.read import Filters, Scope  # noqa: E402

DEFAULT_DB = Path(os.environ.get("DAIHOU_BENCH_DB", "/tmp/million-fresh.duckdb"))


def _ensure_store(path: Path) -> None:
    if path.exists():
        return
    from data.engine import make_engine, upgrade
    from data.generate import generate_into

    print(f"{path} does not exist: generating 1,000,000 loans × 36 months (several minutes)…", flush=True)
    building = path.with_suffix(".building.duckdb")
    eng = make_engine(f"duckdb:///{building}")
    upgrade(eng)
    generate_into(eng, 1_000_000, 36, 42)
    eng.dispose()
    building.rename(path)


def _connect(path: Path, wait_s: float = 600.0) -> sa.Connection:
    """A read-only connection, waiting while another process holds the file for writing."""
    eng = sa.create_engine(f"duckdb:///{path}", connect_args={"read_only": True}, poolclass=NullPool)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return eng.connect()
        except Exception as exc:  # duckdb.IOException: a conflicting lock
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, float, float, object]:
    """(best wall s, median wall s, CPU s of the best run, result) after one warm-up run.

    CPU seconds (all of this process's threads, DuckDB's included) say how much work a read
    is when other processes compete for the cores and the wall time is inflated.
    """
    result = fn()  # warm-up
    runs = []
    for _ in range(max(1, repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
    best = min(runs)
    return best[0], statistics.median(w for w, _ in runs), best[1], result


# ------------------------------------------------------------------ the naive way (pandas)


def naive_load(conn: sa.Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The whole performance table and the loans, in pandas (DuckDB's fastest path)."""
    raw = conn.connection.driver_connection
    perf = raw.execute(
        "SELECT loan_id, as_of, outstanding_principal, dpd, status, classification_reported, classification, "
        "credit_score FROM performance"
    ).df()
    loans = raw.execute(
        "SELECT loan_id, customer_id, region_code, branch_id, product, disbursement_date, principal FROM loans"
    ).df()
    perf["outstanding_principal"] = perf["outstanding_principal"].astype("float64")
    loans["principal"] = loans["principal"].astype("float64")
    perf["as_of"] = pd.to_datetime(perf["as_of"])
    loans["disbursement_date"] = pd.to_datetime(loans["disbursement_date"])
    return perf, loans


def naive_buckets(perf: pd.DataFrame) -> pd.DataFrame:
    book = perf[perf["status"] == "active"]
    g = book.groupby([book["as_of"], pd.Series(dq.dpd_bucket(book["dpd"]), index=book.index, name="bucket")])
    return g["outstanding_principal"].agg(loans="size", balance="sum").reset_index()


def naive_roll(perf: pd.DataFrame, month: pd.Timestamp, prev: pd.Timestamp) -> pd.DataFrame:
    p0 = perf[(perf["as_of"] == prev) & (perf["status"] == "active")][["loan_id", "dpd", "outstanding_principal"]]
    p1 = perf[perf["as_of"] == month][["loan_id", "dpd", "status"]]
    m = p0.merge(p1, on="loan_id", how="left", suffixes=("", "_next"))
    active_next = dq.dpd_bucket(m["dpd_next"].fillna(0).astype("int64"))
    to = np.where(m["status"].isna(), "missing", np.where(m["status"] == "active", active_next, m["status"]))
    t = pd.DataFrame({"from_state": dq.dpd_bucket(m["dpd"]), "to_state": to, "loans": 1,
                      "balance": m["outstanding_principal"]})
    return dq.roll_matrix(t.groupby(["from_state", "to_state"], as_index=False)[["loans", "balance"]].sum())


def naive_vintage(perf: pd.DataFrame, loans: pd.DataFrame) -> pd.DataFrame:
    cidx = loans["disbursement_date"].dt.year * 12 + loans["disbursement_date"].dt.month
    lo = pd.DataFrame({"loan_id": loans["loan_id"], "cohort": cidx, "principal": loans["principal"]})
    pl = perf[["loan_id", "as_of", "outstanding_principal", "dpd", "status"]].merge(lo, on="loan_id")
    pl["mob"] = pl["as_of"].dt.year * 12 + pl["as_of"].dt.month - pl["cohort"]
    pl["b30"] = pl["outstanding_principal"].where((pl["status"] == "active") & (pl["dpd"] > 30), 0.0)
    obs = pl.groupby(["cohort", "mob"], as_index=False).agg(rows=("loan_id", "size"), balance_dpd_gt_30=("b30", "sum"))
    bad = pl[((pl["dpd"] > 90) | (pl["status"] == "written_off")) & (pl["mob"] >= 0)]
    first = bad.groupby(["loan_id", "cohort"], as_index=False)["mob"].min()
    fd = first.groupby(["cohort", "mob"], as_index=False).size().rename(columns={"size": "loans"})
    cohorts = lo.groupby("cohort", as_index=False).agg(loans=("loan_id", "size"), principal=("principal", "sum"))
    return dq.vintage_curves(cohorts, obs, fd)


def naive_exceptions(perf: pd.DataFrame, loans: pd.DataFrame, month: pd.Timestamp) -> tuple[pd.DataFrame, int]:
    book = perf[(perf["as_of"] == month) & (perf["status"] == "active")]
    exc = book[exception_mask(book["dpd"], book["classification_reported"])]
    top = exc.sort_values(["outstanding_principal", "loan_id"], ascending=[False, True]).head(dd.DRILL_LIMIT)
    return top.merge(loans[["loan_id", "customer_id", "region_code", "branch_id", "product"]], on="loan_id"), len(exc)


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=DEFAULT_DB)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-naive", action="store_true")
    args = ap.parse_args(argv)
    _ensure_store(args.db)
    conn = _connect(args.db)
    scope, f = Scope.all(), Filters()
    n_rows, n_loans = conn.execute(sa.text("SELECT (SELECT count(*) FROM performance), (SELECT count(*) FROM loans)")).one()
    months = dd.months_with_rows(conn, scope)
    last, prev, year_ago = months[-1], months[-2], months[-13] if len(months) > 12 else months[0]
    print(f"store {args.db}: {n_loans:,} loans, {n_rows:,} performance rows, {len(months)} months "
          f"({months[0]} … {last}); {os.cpu_count()} CPUs; best / median of {args.repeat} warm runs")
    dirty = summaries.roll_summary_dirty(conn)
    if dirty == set():
        n_summary = conn.execute(sa.text("SELECT count(*) FROM roll_summary")).scalar_one()
        print(f"roll summary: current, {n_summary:,} rows (roll and cure reads use it)")
    else:
        state = "not built" if dirty is None else f"stale for {len(dirty)} month(s)"
        print(f"roll summary: {state} (roll and cure reads use the live self-join)")

    has_cohort = conn.execute(sa.text(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'performance' AND column_name = 'cohort'"
    )).scalar_one()
    if not has_cohort:
        print("performance has no cohort column (a store before migration 0003): vintage skipped; upgrade a COPY "
              "of the store (python -m cli or data.engine.upgrade) to time it")

    reads: list[tuple[str, Callable[[], object]]] = [
        ("bucket distribution, all months", lambda: dd.bucket_distribution(conn, scope, f)),
        (f"roll matrix {prev:%Y-%m} → {last:%Y-%m}", lambda: dd.roll_matrix(conn, scope, f, last)),
        ("vintage curves, all cohorts", lambda: dd.vintage_curves(conn, scope, f)),
        (f"exceptions list {last:%Y-%m}", lambda: dc.exceptions(conn, scope, f, last)),
        ("overdue rates, all months", lambda: dd.overdue_rates(conn, scope, f)),
        ("overdue rates by region, all months", lambda: dd.overdue_rates(conn, scope, f, by=("region_code",))),
        (f"drill-down {last:%Y-%m} current (1,000 rows)", lambda: dd.drill_down(conn, scope, f, dd.BucketCell(last, "current"))),
        ("exception counts, all months", lambda: dc.exception_counts(conn, scope, f)),
        (f"class migration {year_ago:%Y-%m} → {last:%Y-%m}", lambda: dc.migration_matrix(conn, scope, f, year_ago, last)),
        ("provision check, all months", lambda: dc.provision_check(conn, scope, f)),
        (f"provision table {last:%Y-%m}", lambda: dc.provision_table(conn, scope, f, last)),
        ("roll trend (+ cure rate), all months", lambda: dd.roll_trend(conn, scope, f)),
        ("roll trend, live self-join (the reference)", lambda: dq.roll_trend(dd.read_frame(
            conn, dd.transition_select(dd.month_pairs(conn, scope, f), "bucket", scope, f)))),
    ]
    if not has_cohort:
        reads = [r for r in reads if not r[0].startswith("vintage")]
    results: dict[str, object] = {}
    sql_best: dict[str, float] = {}
    print(f"\n{'read (SQL, aggregated in DuckDB)':48s} {'best':>8s} {'median':>8s} {'cpu':>8s}  load")
    for name, fn in reads:
        best, med, cpu, res = _time(fn, args.repeat)
        results[name] = res
        sql_best[name] = best
        print(f"{name:48s} {best:7.3f}s {med:7.3f}s {cpu:7.3f}s  {os.getloadavg()[0]:.1f}", flush=True)

    if args.no_naive:
        return
    t0 = time.perf_counter()
    perf, loans = naive_load(conn)
    load_s = time.perf_counter() - t0
    print(f"\nnaive: read performance + loans into pandas {load_s:.2f}s "
          f"({perf.memory_usage(deep=True).sum() / 2**30:.1f} GiB)")
    ts_last, ts_prev = pd.Timestamp(last), pd.Timestamp(prev)
    naive: list[tuple[str, Callable[[], object]]] = [
        ("bucket distribution, all months", lambda: naive_buckets(perf)),
        (f"roll matrix {prev:%Y-%m} → {last:%Y-%m}", lambda: naive_roll(perf, ts_last, ts_prev)),
        ("vintage curves, all cohorts", lambda: naive_vintage(perf, loans)),
        (f"exceptions list {last:%Y-%m}", lambda: naive_exceptions(perf, loans, ts_last)),
    ]
    print(f"{'read (naive: whole table in pandas)':48s} {'compute':>8s} {'+ read':>8s} {'÷ SQL':>7s}  same result")
    for name, fn in naive:
        if name not in results:
            continue
        best, _, _, res = _time(fn, 1)
        total = best + load_s
        print(f"{name:48s} {best:7.3f}s {total:7.2f}s {total / sql_best[name]:6.0f}×  {_same(name, res, results[name])}",
              flush=True)


def _same(name: str, naive: object, sql: object) -> str:
    """Compare the naive result with the SQL one (a cross-check of the maths at scale)."""
    try:
        if name.startswith("bucket"):
            a = naive.assign(as_of=naive["as_of"].dt.date).set_index(["as_of", "bucket"])
            b = sql.set_index(["as_of", "bucket"]).loc[a.index]
            ok = (a["loans"].to_numpy() == b["loans"].to_numpy()).all() and np.allclose(a["balance"], b["balance"])
            ok = ok and int(sql["loans"].sum()) == int(naive["loans"].sum())
        elif name.startswith("roll"):
            ok = np.allclose(naive.to_numpy(), sql.to_numpy(), equal_nan=True)
        elif name.startswith("vintage"):
            a = naive.assign(cohort=[dt.date(int((c - 1) // 12), int((c - 1) % 12) + 1, 1) for c in naive["cohort"]])
            ok = len(a) == len(sql) and np.allclose(
                a[["vintage_30_balance", "cum_default_count"]].to_numpy(dtype=float),
                sql[["vintage_30_balance", "cum_default_count"]].to_numpy(dtype=float), equal_nan=True)
        else:
            top, total = naive
            ok = total == sql.total and list(top["loan_id"]) == list(sql.loans["loan_id"])
    except Exception as exc:  # a shape mismatch is a difference too
        return f"no ({type(exc).__name__}: {exc})"
    return "yes" if ok else "NO"


if __name__ == "__main__":
    main()
