"""Daihou's command line: ``python -m cli generate | load | report``.

The store is ``DAIHOU_DB_URL`` (a SQLAlchemy URL), else ``[connections.daihou] url`` in
``.streamlit/secrets.toml``, else the embedded DuckDB file ``daihou.duckdb``. Every command
brings the store to the latest schema first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from data.engine import StoreBusyError, make_engine, upgrade

TABLES = ("loans", "performance", "customers", "collections", "inspections")


class TerminalProgress:
    """A one-line progress bar on standard error: ``[#####.....]  42%  message``."""

    def __init__(self, label: str, stream=sys.stderr, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream, width
        self.start = time.monotonic()
        self._last = ""

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(fraction * self.width))
        line = (
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%} "
            f"{time.monotonic() - self.start:6.1f}s  {message[:60]:<60}"
        )
        if line != self._last:
            self.stream.write(line)
            self.stream.flush()
            self._last = line

    def done(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _engine():
    engine = make_engine()
    upgrade(engine)
    return engine


def cmd_generate(args: argparse.Namespace) -> int:
    from data.generate import generate_into, write_tape

    if args.out:
        bar = TerminalProgress("writing tape")
        write_tape(Path(args.out), args.loans, args.months, args.seed, fmt=args.format, progress=bar)
        bar.done()
        print(f"wrote a tape of {args.loans:,} loans x {args.months} months to {args.out}")
        return 0
    from data.store import clear_portfolio, is_empty

    engine = _engine()
    with engine.begin() as conn:
        if not is_empty(conn):
            if not args.replace:
                print(
                    "The store already holds loans. Use --replace to delete them and generate a new "
                    "demo portfolio, or point DAIHOU_DB_URL at another store.",
                    file=sys.stderr,
                )
                return 1
            clear_portfolio(conn)
    bar = TerminalProgress("generating")
    result = generate_into(engine, args.loans, args.months, args.seed, progress=bar)
    bar.done()
    print(result.summary() if hasattr(result, "summary") else result)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from data.importer import load_files

    paths = {t: getattr(args, t) for t in TABLES if getattr(args, t)}
    engine = _engine()
    bar = TerminalProgress("loading")
    report = load_files(engine, paths, region_set=args.region_set, progress=bar)
    bar.done()
    print(report.summary())
    if report.ok:
        return 0
    out = Path(args.rejections or f"rejections-{dt.datetime.now():%Y%m%d-%H%M%S}.csv")
    report.write_csv(out)
    frame = report.to_frame()
    print(f"\n{len(frame)} rejection(s); nothing was loaded. Full report: {out}", file=sys.stderr)
    print(frame.to_string(index=False, max_rows=None), file=sys.stderr)
    return 1


def cmd_report(args: argparse.Namespace) -> int:
    from data.read import Filters, Scope
    from data.reports import kpi_report

    filters = Filters()
    if args.as_of:
        try:
            month = dt.datetime.strptime(args.as_of, "%Y-%m").date()
        except ValueError:
            print(f"--as-of {args.as_of!r}: expected YYYY-MM", file=sys.stderr)
            return 2
        filters = Filters(as_of=month)
    engine = _engine()
    with engine.connect() as conn:
        report = kpi_report(conn, Scope.all(), filters)
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        pol = report["provision_policy"]  # the store's (set on the Data page)
        print(f"Provision policy: coverage >= {pol['min_coverage']:.0%}, loan provision ratio >= "
              f"{pol['min_loan_provision_ratio']:.1%}, general reserve {pol['general_rate']:.1%}")
        for m in report["months"]:
            print(
                f"{m['as_of']}  loans {m['loans']:>9,}  balance {m['balance']:>18,.2f}  "
                f"30+ {_pct(m['overdue_rate_30_balance'])}  90+ {_pct(m['overdue_rate_90_balance'])}  "
                f"NPL {_pct(m['npl_ratio'])}"
            )
    return 0


def _pct(v: float | None) -> str:
    return "   n/a" if v is None else f"{v:6.2%}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cli", description="Daihou (贷后) post-loan management")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="generate a realistic demo portfolio into the store")
    g.add_argument("--loans", type=int, default=20_000, help="number of loans (default 20,000)")
    g.add_argument("--months", type=int, default=36, help="months of performance (default 36)")
    g.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    g.add_argument("--replace", action="store_true", help="delete the stored portfolio first")
    g.add_argument("--out", help="write the tape as files into this folder instead of loading it")
    g.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format with --out")
    g.set_defaults(func=cmd_generate)

    ld = sub.add_parser("load", help="validate and load a loan tape (all or nothing)")
    for t in TABLES:
        ld.add_argument(f"--{t}", metavar="FILE", help=f"{t} table (CSV or Parquet)")
    ld.add_argument("--region-set", help="cn_provinces (default), us_states, or custom")
    ld.add_argument("--rejections", metavar="CSV", help="where to write the rejection report")
    ld.set_defaults(func=cmd_load)

    r = sub.add_parser("report", help="the KPI report of metrics.md, against the store's provision policy")
    r.add_argument("--json", action="store_true", help="print JSON (the documented format)")
    r.add_argument("--as-of", help="one month, YYYY-MM (default: every stored month)")
    r.set_defaults(func=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except StoreBusyError as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
