"""Daihou benchmark: prints a table of times and peak memory, measured on this machine.

    python bench/run.py                # everything (about 35 minutes)
    python bench/run.py demo import    # a selection: demo, million, import, analytics, pages

Each figure is measured in a fresh process (peak RSS is that process's own, from
``wait4``), on a fresh embedded DuckDB store in a temporary folder. Goals (issue 2):
demo 20,000 × 36 generated and loaded ≤ 20 s; 1,000,000 × 36 ≤ 600 s and < 4 GB;
a 1,000,000-row performance CSV validated and loaded ≤ 30 s and < 2 GB; the KPI report
at 1,000,000 loans ≤ 3 s (issue 3). The analytics of each page have their own scripts
(bench/delinquency.py, bench/drift_regional.py, bench/stress.py, bench/clv_alerts.py),
run against a store made here (``--db``); ``analytics`` runs the four of them one after the
other on the 1M store (each prints its own table, with the naive pandas way beside the SQL
reads where one makes sense, and its peak memory). ``pages`` times every page of the running app in
Chromium (bench/pages.py: first render after a server start ≤ 3 s, rerun after a filter or
slider change ≤ 1 s, peak memory < 3 GB, issue 4). ``analytics`` and ``pages`` use the 1M
store generated here when ``million`` runs too, else ``$DAIHOU_BENCH_DB`` (default
/tmp/million-fresh.duckdb; generated when missing). They only read it (pages and the alert
evaluation work on copies).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_task(*args: object) -> dict:
    """Run ``bench.tasks`` in a child; return its JSON figures plus wall seconds and peak RSS (MB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.tasks", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"benchmark task {args} failed (status {status})")
    figures = json.loads(out.strip().splitlines()[-1])
    figures["wall"] = time.perf_counter() - t0
    figures["peak_mb"] = usage.ru_maxrss / 1024
    return figures


def main(selection: list[str]) -> None:
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="daihou-bench-") as tmp:
        tmp_path = Path(tmp)
        if not selection or "demo" in selection:
            f = run_task("generate_and_load", 20_000, 36, f"duckdb:///{tmp_path / 'demo.duckdb'}")
            rows.append(("demo 20,000 loans × 36 months, generate + load", f"{f['seconds']:.1f} s", f"{f['peak_mb']:,.0f} MB", "≤ 20 s"))
        if not selection or "million" in selection:
            f = run_task("generate_and_load", 1_000_000, 36, f"duckdb:///{tmp_path / 'million.duckdb'}")
            rows.append(("1,000,000 loans × 36 months, generate + load", f"{f['seconds']:.0f} s", f"{f['peak_mb']:,.0f} MB", "≤ 600 s, < 4 GB"))
            f = run_task("kpi_report", f"duckdb:///{tmp_path / 'million.duckdb'}")
            rows.append((f"KPI report, {f['months']} months with regions and PSI (1M loans), warm", f"{f['seconds']:.2f} s", f"{f['peak_mb']:,.0f} MB", "≤ 3 s"))
            rows.append(("  the same aggregates the naive way (whole table in pandas)", f"{f['naive_seconds']:.1f} s", "", f"ours {f['naive_seconds'] / f['seconds']:.0f}x faster"))
        if not selection or "import" in selection:
            tape = tmp_path / "tape"
            run_task("write_tape", 60_000, 36, tape)
            f = run_task("import_performance", tape, f"duckdb:///{tmp_path / 'import.duckdb'}", 1_000_000)
            rows.append((f"performance CSV of {f['rows']:,} rows, validate + load", f"{f['seconds']:.1f} s", f"{f['peak_mb']:,.0f} MB", "≤ 30 s, < 2 GB"))
        if rows:
            w = max(len(r[0]) for r in rows)
            print(f"{'benchmark':<{w}}  {'time':>8}  {'peak RSS':>9}  goal")
            for name, t, mem, goal in rows:
                print(f"{name:<{w}}  {t:>8}  {mem:>9}  {goal}", flush=True)
        million = tmp_path / "million.duckdb"
        store = million if million.is_file() else Path(os.environ.get("DAIHOU_BENCH_DB", "/tmp/million-fresh.duckdb"))
        if not selection or "analytics" in selection:
            if not store.is_file():
                run_task("generate_and_load", 1_000_000, 36, f"duckdb:///{store}")
            for cmd in (
                ["bench/delinquency.py", "--db", str(store)],
                ["bench/drift_regional.py", "--db", str(store)],
                ["bench/stress.py", f"duckdb:///{store}"],
                ["bench/clv_alerts.py", f"duckdb:///{store}"],
            ):
                print(f"\n$ python {' '.join(cmd)}", flush=True)
                if subprocess.run([sys.executable, *cmd], cwd=ROOT).returncode != 0:
                    raise SystemExit(f"{cmd[0]} failed (see above)")
        if not selection or "pages" in selection:
            cmd = [sys.executable, str(ROOT / "bench" / "pages.py"), "--db", str(store)]
            print(flush=True)
            if subprocess.run(cmd, cwd=ROOT).returncode != 0:
                raise SystemExit("the page benchmark reported problems (see above)")


if __name__ == "__main__":
    main(sys.argv[1:])
