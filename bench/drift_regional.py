"""Score drift and regional risk on a large store: the SQL reads versus the naive pandas way.

    python bench/drift_regional.py                          # the shared 1M-loan store
    python bench/drift_regional.py --db /tmp/h6-20k.duckdb --repeat 5
    python bench/drift_regional.py --no-naive               # only the SQL reads

Each read (``data.scores`` / ``data.regional``) runs once cold, then ``--repeat`` times warm
on the same open connection; the cold time and the best and median warm times are printed.
The naive way reads the loan-level rows it needs into pandas (with DuckDB's fastest path,
``.df()``, which flatters it) and computes the same figures there (numpy.quantile and
pandas.cut per month, a merge and crosstab, a per-loan look-ahead and scikit-learn's
roc_auc_score, groupbys); its time is the read plus the computation. Its results are
checked against the SQL reads', so the script also cross-checks the maths at scale.

The regional table is timed without expected loss (``expected_loss=False``) and with it:
expected loss comes from ``data.credit.ecl_by_months`` (loan-level PD and ECL for the
three months in one read, cached per month until the next import). With it, "cold" is the
first call on an empty ECL cache (the PD model already fitted or loaded), "warm" the calls
after it; a second line reads the ECL from the cache's files only (as a new process
would), a third computes the ECL without any cache.

The store is opened read-only (so several benchmarks can share it). Timings depend on the
machine's load: the load average is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analytics import drift  # noqa: E402
from data import credit, regional, scores  # noqa: E402
from data.engine import make_engine  # noqa: E402
from data.read import Filters, Scope  # noqa: E402

DEFAULT_DB = os.environ.get("DAIHOU_BENCH_DB", "/tmp/million-fresh.duckdb")


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, float, float, float, object]:
    """(cold wall, best warm wall, median warm wall, CPU seconds of the best warm run, result).

    CPU time is the process's (all threads, DuckDB's included): on a busy machine it shows
    the work done where the wall time shows the wait for a core.
    """
    t0 = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - t0
    warm: list[tuple[float, float]] = []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        warm.append((time.perf_counter() - t0, time.process_time() - c0))
    best = min(warm)
    return cold, best[0], statistics.median(w for w, _ in warm), best[1], result


def _once(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


# ----------------------------------------------------------------------------- naive ways


def naive_psi_trend(raw) -> pd.Series:
    """Every scored loan-month into pandas; per month numpy deciles and pandas.cut."""
    df = raw.execute(
        "SELECT as_of, credit_score FROM performance WHERE status = 'active' AND credit_score IS NOT NULL"
    ).df()
    months = sorted(df["as_of"].unique())
    base = df.loc[df["as_of"] == months[0], "credit_score"].to_numpy()
    edges = np.concatenate(([-np.inf], np.quantile(base, drift.DECILES), [np.inf]))
    e = pd.cut(base, edges, right=True, labels=False)
    e_counts = np.bincount(e, minlength=10)
    out = {}
    for m, g in df.groupby("as_of"):
        a = np.bincount(pd.cut(g["credit_score"].to_numpy(), edges, right=True, labels=False), minlength=10)
        out[m] = drift.psi_from_counts(e_counts, a)
    return pd.Series(out)


def naive_migration(raw, a: dt.date, b: dt.date) -> pd.DataFrame:
    """Both months' loan rows into pandas; merge and crosstab."""
    fa = raw.execute(
        "SELECT loan_id, credit_score FROM performance WHERE status = 'active' AND credit_score IS NOT NULL AND as_of = ?",
        [a],
    ).df()
    fb = raw.execute("SELECT loan_id, credit_score, status FROM performance WHERE as_of = ?", [b]).df()
    m = fa.merge(fb, on="loan_id", how="left", suffixes=("_a", "_b"))
    labels = np.asarray(drift.band_labels(), dtype=object)
    frm = labels[drift.band_index(m["credit_score_a"])]
    in_band = (m["status"] == "active") & m["credit_score_b"].notna()
    to = np.where(
        in_band,
        labels[drift.band_index(m["credit_score_b"].fillna(0))],
        np.where(m["status"].isna(), "not_reported", np.where(m["status"] == "active", "unscored", m["status"])),
    )
    ct = pd.crosstab(frm, to)
    return ct.reindex(index=list(labels), columns=list(labels) + list(drift.EXIT_STATES), fill_value=0)


def naive_discrimination(raw, horizon: int = 12) -> pd.DataFrame:
    """Every loan-month into pandas; a per-loan look-ahead; roc_auc_score per month."""
    from sklearn.metrics import roc_auc_score

    df = raw.execute(
        "SELECT loan_id, as_of, credit_score, dpd, status FROM performance"
    ).df()
    when = pd.DatetimeIndex(df["as_of"])
    df["idx"] = when.year.astype(np.int64) * 12 + when.month.astype(np.int64)
    df = df.sort_values(["loan_id", "idx"], ascending=[True, False], kind="stable")
    bad_idx = pd.Series(np.where(df["dpd"] > 90, df["idx"].astype(float), np.inf), index=df.index)
    later = bad_idx.groupby(df["loan_id"]).shift(1)  # the next later row's bad index
    df["next_bad"] = later.groupby(df["loan_id"]).cummin()
    last = df["idx"].max()
    obs = df[(df["status"] == "active") & df["credit_score"].notna() & (df["dpd"] <= 90) & (df["idx"] <= last - horizon)]
    obs = obs.assign(bad=obs["next_bad"].fillna(np.inf) <= obs["idx"] + horizon)
    rows = []
    for m, g in obs.groupby("as_of"):
        auc = roc_auc_score(g["bad"], -g["credit_score"]) if g["bad"].nunique() == 2 else np.nan
        rows.append((m, len(g), int(g["bad"].sum()), auc))
    return pd.DataFrame(rows, columns=["as_of", "loans", "bads", "auc"])


def naive_regional(raw, months: list[dt.date]) -> pd.DataFrame:
    """Three months of loan rows (with the loans' collateral type) into pandas; groupby."""
    df = raw.execute(
        "SELECT p.as_of, p.region_code, p.outstanding_principal, p.dpd, p.classification, "
        "p.collateral_value AS cv, l.collateral_value AS cv0, l.collateral_type "
        "FROM performance p JOIN loans l USING (loan_id) WHERE p.status = 'active' AND p.as_of IN (?, ?, ?)",
        months,
    ).df()
    bal = df["outstanding_principal"].astype(float)
    value = df["cv"].astype(float).fillna(df["cv0"].astype(float))
    pledged = (~df["collateral_type"].isin(["none", "guarantee"])) & (value > 0)
    g = df.assign(
        bal=bal,
        b30=bal.where(df["dpd"] > 30, 0.0),
        npl=bal.where(df["classification"].isin(["substandard", "doubtful", "loss"]), 0.0),
        cb=bal.where(pledged, 0.0),
        cv_=value.where(pledged, 0.0),
    ).groupby(["as_of", "region_code"])[["bal", "b30", "npl", "cb", "cv_"]].sum()
    g["overdue_rate_30_balance"] = g["b30"] / g["bal"]
    g["npl_ratio"] = g["npl"] / g["bal"]
    g["collateral_coverage"] = g["cv_"] / g["cb"]
    cur = g.loc[pd.Timestamp(months[0])]
    prev = g.loc[pd.Timestamp(months[1])]
    cur = cur.assign(
        overdue_rate_30_balance_mom=cur["overdue_rate_30_balance"] - prev["overdue_rate_30_balance"].reindex(cur.index)
    )
    return cur.reset_index()


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=DEFAULT_DB, help="DuckDB store file (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="warm runs per read (default %(default)s)")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive pandas comparison")
    ap.add_argument("--no-el", action="store_true", help="skip the regional table with expected loss")
    args = ap.parse_args(argv)
    if not Path(args.db).exists():
        raise SystemExit(f"{args.db} does not exist: make it with data.generate.generate_into(engine, 1_000_000, 36, 42)")
    engine = make_engine(f"duckdb:///{args.db}?access_mode=READ_ONLY")
    scope, f = Scope.all(), Filters()
    rows: list[tuple[str, str, str, str, str, str]] = []
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        n_rows = raw.execute("SELECT count(*) FROM performance").fetchone()[0]
        months = scores.score_histogram(conn, scope, f)["as_of"].drop_duplicates().sort_values().tolist()
        last = months[-1]
        prev, yago = scores.shift_month(last, -1), scores.shift_month(last, -12)

        def add(name: str, fn: Callable[[], object], naive: Callable[[], object] | None) -> tuple[object, object]:
            cold, best, med, cpu, res = _time(fn, args.repeat)
            naive_s, naive_res = ("", None)
            if naive is not None and not args.no_naive:
                t, naive_res = _once(naive)
                naive_s = f"{t:.2f} s"
            rows.append((name, f"{cold:.3f} s", f"{best:.3f} s", f"{med:.3f} s", f"{cpu:.3f} s", naive_s))
            print(f"  {name}: cold {cold:.3f}  warm {best:.3f} / {med:.3f}  cpu {cpu:.3f}  naive {naive_s or '-'}", flush=True)
            return res, naive_res

        print(f"store {args.db}: {n_rows:,} performance rows, {len(months)} months; load average {os.getloadavg()}")
        trend, naive_trend = add("PSI trend (baseline + MoM, all months)", lambda: scores.psi_trend(conn, scope, f),
                                 lambda: naive_psi_trend(raw))
        if naive_trend is not None:
            diff = np.nanmax(np.abs(trend.set_index("as_of")["psi"].to_numpy() - naive_trend.sort_index().to_numpy()))
            print(f"    PSI: SQL vs naive max |diff| = {diff:.2e}")
        mig, naive_mig = add(
            f"migration matrix {yago:%Y-%m} -> {last:%Y-%m}",
            lambda: scores.score_migration(conn, scope, f, yago, last, shares=False),
            lambda: naive_migration(raw, yago, last),
        )
        if naive_mig is not None:
            same = np.array_equal(mig.to_numpy(), naive_mig.to_numpy())
            print(f"    migration counts equal: {same}")
        disc, naive_disc = add(
            "KS/AUC trend (12-month outcome)",
            lambda: scores.discrimination_trend(conn, scope, f),
            lambda: naive_discrimination(raw),
        )
        if naive_disc is not None:
            d = np.nanmax(np.abs(disc["auc"].to_numpy() - naive_disc["auc"].to_numpy()))
            print(f"    AUC: SQL vs sklearn max |diff| = {d:.2e}; bads equal: {disc['bads'].tolist() == naive_disc['bads'].tolist()}")
        reg, naive_reg = add(
            f"regional table {last:%Y-%m} with MoM/YoY (no EL)",
            lambda: regional.regional_risk(conn, scope, f, last, expected_loss=False),
            lambda: naive_regional(raw, [last, prev, yago]),
        )
        if naive_reg is not None:
            m = reg.merge(naive_reg, on="region_code", suffixes=("", "_naive"))
            d = max(
                np.nanmax(np.abs(m[c] - m[f"{c}_naive"]))
                for c in ("overdue_rate_30_balance", "npl_ratio", "collateral_coverage", "overdue_rate_30_balance_mom")
            )
            print(f"    regional: SQL vs naive max |diff| of rates = {d:.2e}")
        add("largest score drops (3 months, top 50)", lambda: scores.largest_score_drops(conn, scope, f, last, n=50), None)
        add(f"branch table of one region {last:%Y-%m} (no EL)",
            lambda: regional.branch_risk(conn, scope, f, reg["region_code"].iloc[0], last, expected_loss=False), None)
        if not args.no_el:
            with tempfile.TemporaryDirectory(prefix="daihou-bench-ecl-") as cache:
                # a fresh ECL cache; the PD model from the usual cache (fitted there if need be)
                credit.pd_model(conn)
                Path(cache, "models").symlink_to(credit.models_dir(), target_is_directory=True)
                os.environ["DAIHOU_CACHE_DIR"] = cache
                credit._ECL_CACHE.clear_memory()
                add("regional table with expected loss (cold: ECL of 3 months computed; warm: cached)",
                    lambda: regional.regional_risk(conn, scope, f, last), None)

                def from_disk() -> object:
                    credit._ECL_CACHE.clear_memory()  # as a new process: the ECL from the Parquet files
                    return regional.regional_risk(conn, scope, f, last)

                add("regional table with expected loss, ECL cached on disk only", from_disk, None)
                add("ECL by region of 3 months, computed (no cache)",
                    lambda: credit.ecl_by_months(conn, scope, f, ("region_code",), [last, prev, yago], use_cache=False),
                    None)
                add("loan_pd: loan book read + PD scoring, one month (model cached)",
                    lambda: credit.loan_pd(conn, scope, f, last), None)
    print(f"\nload average after: {os.getloadavg()}")
    w = max(len(r[0]) for r in rows)
    print(f"{'read':<{w}}  {'cold':>8}  {'warm best':>9}  {'warm med':>9}  {'warm CPU':>9}  {'naive pandas':>12}")
    for name, cold, best, med, cpu, naive in rows:
        print(f"{name:<{w}}  {cold:>8}  {best:>9}  {med:>9}  {cpu:>9}  {naive:>12}")


if __name__ == "__main__":
    main()
