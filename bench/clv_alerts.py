"""Benchmark: customer lifetime value + segments, early-warning evaluation and back-test.

    python bench/clv_alerts.py [STORE_URL]      # default duckdb:///$DAIHOU_BENCH_DB (default /tmp/million-fresh.duckdb)

Goals (issue 3): CLV + segmentation on 1,000,000 loans ≤ 60 s, instant once cached; the
back-test computed once per import and rule set for the whole book (cold), then every scope
and filter from its cached counts (≤ 1 s). An
embedded DuckDB store is first copied to a temporary folder, so the shared store is never
written to (the evaluation writes alerts) nor locked. Each step runs in its own process;
peak RSS is that process's own (``wait4``). The PD model (``data.credit``) is fitted and
cached by its own first step, so the CLV step measures CLV with the model already fitted;
the PD fit is shown on its own line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DEFAULT_URL = "duckdb:///" + os.environ.get("DAIHOU_BENCH_DB", "/tmp/million-fresh.duckdb")


# ------------------------------------------------------------------ steps (child)


def _conn(url: str):
    from data.engine import make_engine, upgrade

    eng = make_engine(url)
    upgrade(eng)
    return eng


def step_pd_model(url: str) -> dict:
    """Fit (or load) the PD model the CLV uses."""
    from data.customers import MODEL_PD_SOURCE, loan_pd_source

    if loan_pd_source() != MODEL_PD_SOURCE:
        return {"seconds": 0.0, "note": "data.credit not importable: interim PD"}
    from data.credit import pd_model

    eng = _conn(url)
    t0 = time.perf_counter()
    with eng.connect() as c:
        model = pd_model(c)
    return {"seconds": time.perf_counter() - t0, "note": f"method {model.method}"}


def step_clv_parts(url: str) -> dict:
    """The CLV pipeline's parts, timed one by one (no cache)."""
    from analytics.clv import customer_clv, segment_customers
    from data.customers import customer_features, loan_values, resolve_month
    from data.read import Filters, Scope

    eng = _conn(url)
    out: dict = {}
    with eng.connect() as c:
        t = time.perf_counter()
        m = resolve_month(c, Scope.all(), Filters())
        f = Filters(as_of=m)
        feats = customer_features(c, Scope.all(), f)
        out["features_sql"] = time.perf_counter() - t
        t = time.perf_counter()
        values, source = loan_values(c, Scope.all(), f)
        out["loan_values"] = time.perf_counter() - t
    t = time.perf_counter()
    merged = feats.merge(customer_clv(values)[["customer_id", "clv"]], on="customer_id", how="left")
    out["customer_sum"] = time.perf_counter() - t
    t = time.perf_counter()
    seg = segment_customers(merged)
    out["segmentation"] = time.perf_counter() - t
    out.update(loans=len(values), customers=len(merged), k=seg.k, pd_source=source,
               silhouette={k: round(v, 4) for k, v in seg.silhouette.items()},
               segments=seg.profiles[["segment", "segment_name", "action", "customers", "mean_clv"]].to_dict("records"),
               total_clv=float(values["clv"].sum()))
    return out


def step_segments(url: str, cache: str) -> dict:
    """customer_segments cold (fresh cache folder), then again from the cache."""
    os.environ["DAIHOU_CACHE_DIR"] = cache
    from data.customers import customer_segments
    from data.read import Filters, Scope

    eng = _conn(url)
    with eng.connect() as c:
        t = time.perf_counter()
        cold = customer_segments(c, Scope.all(), Filters())
        t_cold = time.perf_counter() - t
        t = time.perf_counter()
        warm = customer_segments(c, Scope.all(), Filters())
        t_warm = time.perf_counter() - t
    assert warm.from_cache and not cold.from_cache
    return {"cold": t_cold, "cached": t_warm, "customers": len(cold.customers), "k": cold.k}


def step_alerts(url: str) -> dict:
    """Evaluate the rules for the latest month, twice (the second replaces the first)."""
    from data.alerts import alert_counts, alert_month, evaluate_alerts
    from data.read import Filters, Scope

    eng = _conn(url)
    times = []
    for _ in range(2):
        with eng.begin() as c:
            t = time.perf_counter()
            n = evaluate_alerts(c, Scope.all(), Filters())
            times.append(time.perf_counter() - t)
    with eng.connect() as c:
        m = alert_month(c, Scope.all(), Filters())
        counts = alert_counts(c, Scope.all(), Filters(as_of=m))
    return {"first": times[0], "again": times[1], "alerts": n, "month": str(m),
            "by_rule": dict(zip(counts["rule"], counts["alerts"].astype(int).tolist()))}


def step_backtest(url: str, cache: str) -> dict:
    """Back-test every rule over all months with 12 months of future: cold (an empty cache:
    the whole book's counts by rule × region × product × segment), then other scopes and
    filters (a filter and sum of those counts), again (cached in memory), from the cache's
    files only (as a new process would), and a regional scope computed live in SQL (what
    every new scope or filter cost before the whole-book counts)."""
    os.environ["DAIHOU_CACHE_DIR"] = cache
    import sqlalchemy as sa

    from data import alerts
    from data.read import Filters, Scope
    from data.schema import Performance

    eng = _conn(url)
    p = Performance.__table__
    with eng.connect() as c:
        region = c.execute(sa.select(p.c.region_code).limit(1)).scalar()
        t, c0 = time.perf_counter(), time.process_time()
        bt = alerts.backtest(c, Scope.all(), Filters())
        secs, cpu = time.perf_counter() - t, time.process_time() - c0
        t = time.perf_counter()
        regional = alerts.backtest(c, Scope.of([region]), Filters())
        t_regional = time.perf_counter() - t
        t = time.perf_counter()
        alerts.backtest(c, Scope.all(), Filters(products=("mortgage",), segments=("retail",)))
        t_filtered = time.perf_counter() - t
        t = time.perf_counter()
        again = alerts.backtest(c, Scope.all(), Filters())
        warm = time.perf_counter() - t
        alerts._BACKTEST_CACHE.clear_memory()
        alerts._BOOK_CACHE.clear_memory()
        t = time.perf_counter()
        disk = alerts.backtest(c, Scope.all(), Filters())
        from_disk = time.perf_counter() - t
        t = time.perf_counter()
        alerts.backtest(c, Scope.of([region]), Filters(segments=("sme",)))
        new_scope_disk = time.perf_counter() - t
        t = time.perf_counter()
        live = alerts.backtest(c, Scope.of([region]), Filters(), use_cache=False)
        t_live = time.perf_counter() - t
    assert again["alerts"].tolist() == bt["alerts"].tolist() == disk["alerts"].tolist()
    assert regional.equals(live), "the regional back-test from the book's counts differs from the live one"
    rows = bt[["rule", "alerts", "alerted_loans", "share_bad", "lift"]].round(4).to_dict("records")
    return {"seconds": secs, "cpu": cpu, "regional": t_regional, "filtered": t_filtered, "warm": warm,
            "from_disk": from_disk, "new_scope_disk": new_scope_disk, "live_regional": t_live, "region": region,
            "months": int(bt["months"].iloc[0]), "base_rate": float(bt["base_rate"].iloc[0]), "rules": rows}


STEPS = {"pd_model": step_pd_model, "clv_parts": step_clv_parts, "segments": step_segments,
         "alerts": step_alerts, "backtest": step_backtest}


# ------------------------------------------------------------------- driver


def _run(*args: str) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--step", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"step {args[0]} failed (status {status})")
    fig = json.loads(out.strip().splitlines()[-1])
    fig["wall"] = time.perf_counter() - t0
    fig["peak_mb"] = usage.ru_maxrss / 1024
    return fig


def main(url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="daihou-bench-clv-") as tmp:
        if url.startswith("duckdb:///"):
            src = Path(url.removeprefix("duckdb:///"))
            dst = Path(tmp) / "store.duckdb"
            t = time.perf_counter()
            shutil.copyfile(src, dst)
            print(f"copied {src} ({src.stat().st_size / 1e9:.1f} GB) in {time.perf_counter() - t:.0f} s")
            url = f"duckdb:///{dst}"
        pdm = _run("pd_model", url)
        parts = _run("clv_parts", url)
        seg = _run("segments", url, str(Path(tmp) / "cache"))
        al = _run("alerts", url)
        bt = _run("backtest", url, str(Path(tmp) / "cache"))
    print(f"\n{parts['loans']:,} loans, {parts['customers']:,} customers; PD: {parts['pd_source']}")
    print(f"silhouette by k: {parts['silhouette']} → k = {parts['k']}")
    for s in parts["segments"]:
        print(f"  segment {s['segment']}: {s['segment_name']:<45} {s['action']:<26} {s['customers']:>8,}"
              f"  mean CLV {s['mean_clv']:>12,.0f}")
    print(f"alerts at {al['month']}: {al['alerts']:,} {al['by_rule']}")
    print(f"back-test over {bt['months']} months, base rate {bt['base_rate']:.4f}:")
    for r in bt["rules"]:
        print(f"  {r['rule']:<26} alerts {r['alerts']:>9,}  loans {r['alerted_loans']:>8,}"
              f"  share bad {r['share_bad']}  lift {r['lift']}")
    rows = [
        ("PD model fit / load (data.credit, for reference)", pdm["seconds"], pdm["peak_mb"], ""),
        ("  customer features (SQL)", parts["features_sql"], None, ""),
        ("  loan CLV incl. PD scoring", parts["loan_values"], None, ""),
        ("  segmentation (k = 3..8, silhouette)", parts["segmentation"], None, ""),
        ("CLV + segmentation, cold (customer_segments)", seg["cold"], seg["peak_mb"], "≤ 60 s"),
        ("CLV + segmentation, cached", seg["cached"], None, "instant"),
        ("rules for one month: evaluate + write", al["first"], al["peak_mb"], ""),
        ("rules for one month: re-evaluate (replace)", al["again"], None, ""),
        ("back-test, all rules, all months, cold (whole book)", bt["seconds"], bt["peak_mb"], f"CPU {bt['cpu']:.1f} s"),
        (f"back-test, a region ({bt['region']}), from the book's counts", bt["regional"], None, "≤ 1 s"),
        ("back-test, mortgage × retail filters, from the book's counts", bt["filtered"], None, "≤ 1 s"),
        ("back-test, cached (memory)", bt["warm"], None, "≤ 1 s"),
        ("back-test, cached (file, as a new process)", bt["from_disk"], None, "≤ 1 s"),
        ("back-test, a new region × segment, book's counts from file", bt["new_scope_disk"], None, "≤ 1 s"),
        ("back-test, the region computed live in SQL (reference)", bt["live_regional"], None, "(before: every scope)"),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark':<{w}}  {'time':>8}  {'peak RSS':>9}  goal")
    for name, secs, mb, goal in rows:
        mem = f"{mb:,.0f} MB" if mb else ""
        shown = f"{secs:>6.1f} s" if secs >= 0.1 else f"{secs * 1000:>5.0f} ms"
        print(f"{name:<{w}}  {shown}  {mem:>9}  {goal}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        name, *args = sys.argv[2:]
        print(json.dumps(STEPS[name](*args), default=str))
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL)
