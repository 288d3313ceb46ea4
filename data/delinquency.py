"""Delinquency reads: overdue rates, DPD buckets, roll rates, cure rate, vintage, drill-down.

Each read aggregates in the database (SQLAlchemy Core, the same statement on DuckDB and
PostgreSQL) and passes the small result to ``analytics.delinquency``; the definitions are
that module's. Every function takes ``conn, scope, filters`` first and builds on
``data.read.book_conditions`` / ``scope_condition``, so nothing outside the scope is read.

How the filters apply:

* ``regions``, ``products``, ``segments`` narrow the loans everywhere;
* monthly reads (rates, buckets) take the months of ``as_of`` / ``start`` / ``end``;
* roll-rate and cure reads take the months m (the *to* month) of those filters; a pair
  m-1 → m is included when both months have rows in scope;
* vintage reads take ``start`` / ``end`` as bounds on the cohorts (disbursement months)
  and ``as_of`` as the last month observed (a vintage "as seen at" that month).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import pandas as pd
import sqlalchemy as sa

from analytics import delinquency as dq
from analytics.delinquency import BUCKET_UPPER_DPD, DPD_BUCKETS, Measure
from data import summaries
from data.read import (
    DIMENSIONS, Filters, Scope, book_aggregates, book_conditions, month_end, month_start, read_frame,
    scope_condition,
)
from data.schema import Loan, Performance

__all__ = [
    "LoanList",
    "BucketCell",
    "RollCell",
    "VintageCell",
    "DRILL_LIMIT",
    "bucket_expr",
    "previous_month",
    "months_with_rows",
    "month_pairs",
    "transition_select",
    "transition_sums",
    "overdue_rates",
    "bucket_counts",
    "bucket_distribution",
    "roll_transitions",
    "roll_matrix",
    "roll_trend",
    "cure_rates",
    "vintage_inputs",
    "vintage_curves",
    "loan_list",
    "drill_down",
]

P = Performance.__table__
L = Loan.__table__

DRILL_LIMIT = 1_000
"""Default cap on the rows of a drill-down loan list."""


class LoanList(NamedTuple):
    """Loans behind a cell: at most ``limit`` rows, largest balance first, and how many in all."""

    loans: pd.DataFrame
    total: int


@dataclass(frozen=True)
class BucketCell:
    """Active loans in DPD bucket ``bucket`` at ``month``."""

    month: dt.date
    bucket: str


@dataclass(frozen=True)
class RollCell:
    """Loans active in bucket ``from_state`` at the month before ``month`` and in ``to_state`` at ``month``."""

    month: dt.date
    from_state: str
    to_state: str


@dataclass(frozen=True)
class VintageCell:
    """Loans of the cohort disbursed in ``cohort``'s month at MOB ``mob``.

    ``measure``: ``"dpd_gt_30"`` the active loans with dpd > 30 at that MOB (the numerator
    of vintage 30+); ``"default"`` the loans ever > 90 DPD or written off at or before it
    (the numerator of cumulative default); ``"all"`` every cohort loan with a row at it.
    """

    cohort: dt.date
    mob: int
    measure: Literal["dpd_gt_30", "default", "all"] = "dpd_gt_30"


def bucket_expr(dpd: sa.ColumnElement[int]) -> sa.ColumnElement[str]:
    """SQL CASE giving the DPD bucket key of ``dpd`` (same as ``analytics.delinquency.dpd_bucket``)."""
    whens = [(dpd <= up, key) for up, key in zip(BUCKET_UPPER_DPD, DPD_BUCKETS)]
    return sa.case(*whens, else_=DPD_BUCKETS[-1])


def _bucket_bounds(bucket: str) -> tuple[int, int | None]:
    if bucket not in DPD_BUCKETS:
        raise ValueError(f"unknown DPD bucket {bucket!r}; choose from {DPD_BUCKETS}")
    i = DPD_BUCKETS.index(bucket)
    lo = 0 if i == 0 else BUCKET_UPPER_DPD[i - 1] + 1
    hi = BUCKET_UPPER_DPD[i] if i < len(BUCKET_UPPER_DPD) else None
    return lo, hi


def _in_bucket(dpd: sa.ColumnElement[int], bucket: str) -> sa.ColumnElement[bool]:
    lo, hi = _bucket_bounds(bucket)
    return dpd >= lo if hi is None else sa.and_(dpd >= lo, dpd <= hi)


def previous_month(month: dt.date) -> dt.date:
    """The last day of the month before ``month``'s."""
    return month_start(month) - dt.timedelta(days=1)


def _add_months(month: dt.date, k: int) -> dt.date:
    idx = month.year * 12 + month.month - 1 + k
    return month_end(dt.date(idx // 12, idx % 12 + 1, 1))


def _in_month_range(m: dt.date, filters: Filters) -> bool:
    if filters.as_of is not None and m != month_end(filters.as_of):
        return False
    if filters.start is not None and m < month_end(filters.start):
        return False
    return filters.end is None or m <= month_end(filters.end)


def months_with_rows(conn: sa.Connection, scope: Scope) -> list[dt.date]:
    """Month ends with at least one performance row (any status) in scope, oldest first."""
    stmt = sa.select(P.c.as_of).where(scope_condition(scope, P.c.region_code))
    return [r[0] for r in conn.execute(stmt.distinct().order_by(P.c.as_of))]


def month_pairs(conn: sa.Connection, scope: Scope, filters: Filters) -> dict[dt.date, dt.date]:
    """{m-1: m} for every month m in the filters' months whose m and m-1 both have rows in scope."""
    months = months_with_rows(conn, scope)
    have = set(months)
    return {previous_month(m): m for m in months if previous_month(m) in have and _in_month_range(m, filters)}


def _loan_filters(scope: Scope, filters: Filters, table: sa.Table) -> list[sa.ColumnElement[bool]]:
    """Scope and the region / product / segment filters on ``table`` (any status, any month)."""
    return book_conditions(scope, filters, table=table, active_only=False, months=False)


def transition_select(
    pairs: Mapping[dt.date, dt.date],
    kind: Literal["bucket", "class"] = "bucket",
    scope: Scope | None = None,
    filters: Filters | None = None,
    *,
    by: Sequence[str] = (),
    constant_pair: bool = False,
) -> sa.Select:
    """The live self-join of ``performance`` behind :func:`transition_sums`, as a statement.

    Columns ``as_of`` (the to month), the ``by`` columns of the from row (region_code,
    product, segment, ...), ``from_state``, ``to_state``, ``loans`` and ``balance`` (Σ
    balance at the from month, DOUBLE), grouped and ordered by the keys. ``pairs`` is
    ``{from month: to month}``, non-empty; ``constant_pair`` (one pair only) puts the months
    in as constants, so the database filters both scans by month (several times faster than
    the VALUES join for one pair).
    ``scope`` / ``filters`` default to everything. ``data.summaries`` builds the roll summary
    from this statement, so the summary and the live read share one definition.
    """
    scope = scope if scope is not None else Scope.all()
    filters = filters if filters is not None else Filters()
    p0, p1 = P.alias("p0"), P.alias("p1")
    if constant_pair:
        ((frm, to),) = pairs.items()
        source = p0.outerjoin(p1, sa.and_(p1.c.loan_id == p0.c.loan_id, p1.c.as_of == to))
        month_cond: sa.ColumnElement[bool] = p0.c.as_of == frm
        # A constant column, not a GROUP BY key (a bare parameter cannot be one on DuckDB).
        to_month = sa.literal(to, sa.Date).label("as_of")
    else:
        # A small VALUES table of (from, to) months: plain equi-joins, fastest on both back ends.
        pr = sa.values(sa.column("prev", sa.Date), sa.column("cur", sa.Date), name="month_pairs").data(
            sorted(pairs.items())
        )
        source = p0.join(pr, p0.c.as_of == pr.c.prev).outerjoin(
            p1, sa.and_(p1.c.loan_id == p0.c.loan_id, p1.c.as_of == pr.c.cur)
        )
        month_cond = sa.true()
        to_month = pr.c.cur.label("as_of")
    if kind == "bucket":
        from_state, active_to = bucket_expr(p0.c.dpd), bucket_expr(p1.c.dpd)
    elif kind == "class":
        from_state, active_to = p0.c.classification, p1.c.classification
    else:
        raise ValueError(f"kind must be 'bucket' or 'class', not {kind!r}")
    to_state = sa.case(
        (p1.c.loan_id.is_(None), "missing"),
        (p1.c.status == "closed", "closed"),
        (p1.c.status == "written_off", "written_off"),
        else_=active_to,
    )
    keys = [*(p0.c[d] for d in by), from_state.label("from_state"), to_state.label("to_state")]
    if not constant_pair:
        keys.insert(0, to_month)
    return (
        sa.select(
            *([to_month] if constant_pair else []),
            *keys,
            sa.func.count().label("loans"),
            sa.cast(sa.func.coalesce(sa.func.sum(p0.c.outstanding_principal), 0), sa.Double).label("balance"),
        )
        .select_from(source)
        .where(*book_conditions(scope, filters, table=p0, months=False), month_cond)
        .group_by(*keys)
        .order_by(*keys)
    )


def _consecutive(pairs: Mapping[dt.date, dt.date]) -> bool:
    """True when every pair is (month before m, m) with m a month end (what the roll summary holds)."""
    return all(to == month_end(to) and frm == previous_month(to) for frm, to in pairs.items())


def transition_sums(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    pairs: Mapping[dt.date, dt.date],
    kind: Literal["bucket", "class"] = "bucket",
) -> pd.DataFrame:
    """Loans and balance moving between states, for each month pair ``{from month: to month}``.

    The from-book is the loans active at the from month, in scope and under the region /
    product / segment filters. Their state there is the DPD bucket (``kind="bucket"``) or
    the stored class (``kind="class"``); at the to month it is the same if the loan is
    active, else ``closed`` / ``written_off`` (its status), or ``missing`` (no row).

    Returns columns ``as_of`` (the to month), ``from_state``, ``to_state``, ``loans`` and
    ``balance`` (Σ balance at the from month, float); pairs that occur only.

    Buckets of consecutive months are read from the pre-aggregated ``roll_summary`` when it
    is current (``data.summaries``); otherwise, and for classes, from the live self-join of
    ``performance`` (:func:`transition_select`), which is the reference. Both give the
    same figures (balances up to float rounding).
    """
    cols = ["as_of", "from_state", "to_state", "loans", "balance"]
    if not pairs:
        return pd.DataFrame(columns=cols)
    if kind == "bucket" and _consecutive(pairs) and summaries.roll_summary_is_current(conn):
        out = read_frame(conn, summaries.roll_summary_select(scope, filters, sorted(pairs.values())))
        return out if not out.empty else pd.DataFrame(columns=cols)
    out = read_frame(conn, transition_select(pairs, kind, scope, filters, constant_pair=len(pairs) == 1))
    return out if not out.empty else pd.DataFrame(columns=cols)


def overdue_rates(conn: sa.Connection, scope: Scope, filters: Filters, by: Sequence[str] = ()) -> pd.DataFrame:
    """Overdue rates 1+/30+/90+ DPD by balance and count, per month (and ``by`` dimension).

    Columns: ``as_of``, the ``by`` columns, ``loans``, ``balance``, ``loans_dpd_gt_{0,30,90}``,
    ``balance_dpd_gt_{0,30,90}`` and ``overdue_rate_{1,30,90}_{balance,count}`` (fractions,
    NaN on an empty denominator). See ``analytics.kpi.overdue_rates``.
    """
    agg = book_aggregates(conn, scope, filters, by)
    keep = ["as_of", *by, "loans", "balance"]
    for k in dq.THRESHOLDS:
        keep += [f"loans_dpd_gt_{k}", f"balance_dpd_gt_{k}"]
    return dq.overdue_rates(agg[keep]).reset_index(drop=True)


def bucket_counts(conn: sa.Connection, scope: Scope, filters: Filters, by: Sequence[str] = ()) -> pd.DataFrame:
    """Loans and balance of the book per month (and ``by``) and DPD bucket, computed with a SQL CASE.

    Columns ``as_of``, ``by``…, ``bucket``, ``loans``, ``balance`` (float); buckets that
    hold no loan are absent.
    """
    bad = [d for d in by if d not in DIMENSIONS]
    if bad:
        raise ValueError(f"cannot group the book by {bad}; choose from {DIMENSIONS}")
    bucket = bucket_expr(P.c.dpd).label("bucket")
    keys = [P.c.as_of, *(P.c[d] for d in by), bucket]
    stmt = (
        sa.select(
            *keys,
            sa.func.count().label("loans"),
            sa.cast(sa.func.coalesce(sa.func.sum(P.c.outstanding_principal), 0), sa.Double).label("balance"),
        )
        .where(*book_conditions(scope, filters))
        .group_by(*keys)
        .order_by(*keys)
    )
    out = read_frame(conn, stmt)
    return out if not out.empty else pd.DataFrame(columns=["as_of", *by, "bucket", "loans", "balance"])


def bucket_distribution(conn: sa.Connection, scope: Scope, filters: Filters, by: Sequence[str] = ()) -> pd.DataFrame:
    """DPD-bucket distribution per month (and ``by``): loans, balance, share by count and by balance.

    See ``analytics.delinquency.bucket_distribution``; all seven buckets per group.
    """
    return dq.bucket_distribution(bucket_counts(conn, scope, filters, by), by)


def roll_transitions(
    conn: sa.Connection, scope: Scope, filters: Filters, month: dt.date | None = None
) -> pd.DataFrame:
    """Bucket transition sums m-1 → m: for ``month`` alone, else every m of the filters' months.

    For ``month`` the pair is (previous month, month) whatever is stored (loans of m-1 with
    no row at m are ``missing``). See :func:`transition_sums` for the columns.
    """
    if month is not None:
        m = month_end(month)
        pairs = {previous_month(m): m}
    else:
        pairs = month_pairs(conn, scope, filters)
    return transition_sums(conn, scope, filters, pairs, "bucket")


def roll_matrix(
    conn: sa.Connection, scope: Scope, filters: Filters, month: dt.date, measure: Measure = "count"
) -> pd.DataFrame:
    """The roll-rate matrix month-1 → ``month`` by ``measure``; see ``analytics.delinquency.roll_matrix``.

    Index the DPD buckets at m-1, columns the buckets at m plus closed, written_off,
    missing; each row sums to 1 (NaN for an empty bucket).
    """
    return dq.roll_matrix(roll_transitions(conn, scope, filters, month), measure)


def roll_trend(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Roll-forward rates (current→1-30, 1-30→31-60, …) per month; see ``analytics.delinquency.roll_trend``."""
    return dq.roll_trend(roll_transitions(conn, scope, filters))


def cure_rates(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Cure rate per month by count and by balance; see ``analytics.delinquency.cure_rate``.

    Cure rate at m = share of loans active with dpd > 0 at m-1 that are active with
    dpd = 0 at m (by count, and by balance at m-1).
    """
    return dq.cure_rate(roll_transitions(conn, scope, filters))


def _month_index(col: sa.ColumnElement) -> sa.ColumnElement[int]:
    """year × 12 + month of a date column, as an integer (portable EXTRACT)."""
    return sa.cast(sa.extract("year", col), sa.Integer) * 12 + sa.cast(sa.extract("month", col), sa.Integer)


def _index_to_month_end(idx: pd.Series) -> pd.Series:
    i = idx.astype("int64") - 1
    return pd.Series([month_end(dt.date(int(y), int(m) + 1, 1)) for y, m in zip(i // 12, i % 12)], index=idx.index)


def _cohort_loans(scope: Scope, filters: Filters) -> sa.Subquery:
    """loan_id, cohort (disbursement month index) and principal of the cohorts in scope."""
    conds = _loan_filters(scope, filters, L)
    if filters.start is not None:
        conds.append(L.c.disbursement_date >= month_start(filters.start))
    if filters.end is not None:
        conds.append(L.c.disbursement_date <= month_end(filters.end))
    return (
        sa.select(L.c.loan_id, _month_index(L.c.disbursement_date).label("cohort"), L.c.principal)
        .where(*conds)
        .subquery("cohort_loans")
    )


def _cohort_rows(scope: Scope, filters: Filters) -> list[sa.ColumnElement[bool]]:
    """WHERE conditions on ``performance`` for the vintage reads: the rows of the cohorts in
    scope (by the ``cohort`` column copied from the loan: ``start`` / ``end`` bound it as they
    bound the disbursement month) observed at or before ``as_of``."""
    conds = _loan_filters(scope, filters, P)
    if filters.start is not None:
        conds.append(P.c.cohort >= month_end(filters.start))
    if filters.end is not None:
        conds.append(P.c.cohort <= month_end(filters.end))
    if filters.as_of is not None:
        conds.append(P.c.as_of <= month_end(filters.as_of))
    return conds


def _with_mob(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (``cohort`` and ``as_of`` month ends) with ``cohort`` as ``datetime.date`` and
    ``mob`` = months from cohort to as_of, without ``as_of``."""
    cohort, as_of = pd.to_datetime(frame["cohort"]), pd.to_datetime(frame["as_of"])
    mob = (as_of.dt.year - cohort.dt.year) * 12 + as_of.dt.month - cohort.dt.month
    frame["cohort"] = pd.Series(cohort.dt.date.to_numpy(dtype=object), index=frame.index, dtype=object)
    frame["mob"] = mob.astype("int64")
    return frame.drop(columns="as_of")


def vintage_inputs(
    conn: sa.Connection, scope: Scope, filters: Filters
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three aggregates the vintage curves are built from, computed in SQL.

    Returns ``(cohorts, observed, first_default)`` as ``analytics.delinquency.vintage_curves``
    takes them, with ``cohort`` the last day of the disbursement month:

    * cohorts: loans and Σ principal per cohort (loans table, grouped by disbursement month);
    * observed: per cohort and MOB, performance rows (any status) and Σ balance of active
      rows with dpd > 30 (performance alone, grouped by its ``cohort`` column and as_of);
    * first_default: per cohort and MOB, loans whose first month > 90 DPD or written off
      (MIN(as_of) per loan over those rows at or after the cohort month, then counted).
    """
    cl = _cohort_loans(scope, filters)
    perf_conds = _cohort_rows(scope, filters)

    cohorts = read_frame(
        conn,
        sa.select(
            cl.c.cohort,
            sa.func.count().label("loans"),
            sa.cast(sa.func.sum(cl.c.principal), sa.Double).label("principal"),
        ).group_by(cl.c.cohort),
    )
    bal = P.c.outstanding_principal
    observed = read_frame(
        conn,
        sa.select(
            P.c.cohort,
            P.c.as_of,
            sa.func.count().label("rows"),
            sa.cast(
                sa.func.coalesce(sa.func.sum(sa.case((sa.and_(P.c.status == "active", P.c.dpd > 30), bal), else_=0)), 0),
                sa.Double,
            ).label("balance_dpd_gt_30"),
        )
        .where(*perf_conds)
        .group_by(P.c.cohort, P.c.as_of),
    )
    # A loan's rows share its cohort: MIN(cohort) per loan is that cohort, and grouping by the
    # loan alone is about half the work of grouping by loan and cohort.
    first = (
        sa.select(sa.func.min(P.c.cohort).label("cohort"), sa.func.min(P.c.as_of).label("as_of"))
        .where(*perf_conds, sa.or_(P.c.dpd > 90, P.c.status == "written_off"), P.c.as_of >= P.c.cohort)
        .group_by(P.c.loan_id)
        .subquery("first_default")
    )
    first_default = read_frame(
        conn,
        sa.select(first.c.cohort, first.c.as_of, sa.func.count().label("loans")).group_by(first.c.cohort, first.c.as_of),
    )
    if not cohorts.empty:
        cohorts["cohort"] = _index_to_month_end(cohorts["cohort"])
    if observed.empty:
        observed = pd.DataFrame(columns=["cohort", "rows", "balance_dpd_gt_30", "mob"])
    else:
        observed = _with_mob(observed)
    if first_default.empty:
        first_default = pd.DataFrame(columns=["cohort", "mob", "loans"])
    else:
        first_default = _with_mob(first_default)[["cohort", "mob", "loans"]]
    return cohorts, observed, first_default


def vintage_curves(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Vintage 30+ by balance and cumulative default by count per cohort and MOB.

    See ``analytics.delinquency.vintage_curves`` for the columns and definitions;
    ``cohort`` is the last day of the disbursement month.
    """
    return dq.vintage_curves(*vintage_inputs(conn, scope, filters))


def loan_list(
    conn: sa.Connection,
    perf: sa.FromClause,
    conds: Sequence[sa.ColumnElement[bool]],
    extra: Sequence[sa.ColumnElement] = (),
    limit: int = DRILL_LIMIT,
    *,
    outer: bool = False,
) -> LoanList:
    """The loan list behind a cell: loans joined to the performance rows ``perf``, where ``conds``.

    Columns ``loan_id``, ``customer_id``, ``region_code``, ``branch_id``, ``product``,
    ``balance``, ``dpd``, ``classification``, ``credit_score`` (from ``perf``), then
    ``extra``; at most ``limit`` rows, largest balance first (ties by loan_id), and the
    total number of loans. ``outer=True`` keeps loans without a ``perf`` row (nulls).
    Callers put scope conditions in ``conds``; this is the low-level builder of
    :func:`drill_down` and ``data.classification``.
    """
    total = sa.func.count().over().label("_total")
    balance = sa.cast(perf.c.outstanding_principal, sa.Double)
    join = L.outerjoin(perf, perf.c.loan_id == L.c.loan_id) if outer else L.join(perf, perf.c.loan_id == L.c.loan_id)
    stmt = (
        sa.select(
            L.c.loan_id, L.c.customer_id, L.c.region_code, L.c.branch_id, L.c.product,
            balance.label("balance"), perf.c.dpd, perf.c.classification, perf.c.credit_score,
            *extra, total,
        )
        .select_from(join)
        .where(*conds)
        .order_by(sa.desc(balance).nulls_last(), L.c.loan_id)
        .limit(limit)
    )
    frame = read_frame(conn, stmt)
    n = int(frame["_total"].iloc[0]) if not frame.empty else 0
    return LoanList(frame.drop(columns="_total"), n)


def drill_down(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    cell: BucketCell | RollCell | VintageCell,
    limit: int = DRILL_LIMIT,
) -> LoanList:
    """The loans behind a bucket, roll-rate or vintage cell, in scope and under the filters.

    Base columns as :func:`loan_list` (balance, dpd, class and score at the cell's month:
    the bucket's month; m-1 for a roll cell; the cohort's month at MOB ``mob`` for a vintage
    cell); a roll cell adds ``dpd_next`` and ``status_next`` (at m; null when missing).
    Capped at ``limit`` rows by balance, descending; ``total`` counts them all.
    """
    conds = _loan_filters(scope, filters, L)
    if isinstance(cell, BucketCell):
        p = P.alias("p")
        conds += [p.c.as_of == month_end(cell.month), p.c.status == "active", _in_bucket(p.c.dpd, cell.bucket)]
        return loan_list(conn, p, conds, limit=limit)
    if isinstance(cell, RollCell):
        m = month_end(cell.month)
        p0, p1 = P.alias("p0"), P.alias("p1")
        moved = [p0.c.as_of == previous_month(m), p0.c.status == "active", _in_bucket(p0.c.dpd, cell.from_state)]
        if cell.to_state == "missing":
            moved.append(p1.c.loan_id.is_(None))
        elif cell.to_state in ("closed", "written_off"):
            moved.append(p1.c.status == cell.to_state)
        else:
            moved += [p1.c.status == "active", _in_bucket(p1.c.dpd, cell.to_state)]
        roll = (
            sa.select(
                p0.c.loan_id, p0.c.outstanding_principal, p0.c.dpd, p0.c.classification, p0.c.credit_score,
                p1.c.dpd.label("dpd_next"), p1.c.status.label("status_next"),
            )
            .select_from(p0.outerjoin(p1, sa.and_(p1.c.loan_id == p0.c.loan_id, p1.c.as_of == m)))
            .where(*moved)
            .subquery("roll")
        )
        return loan_list(conn, roll, conds, extra=[roll.c.dpd_next, roll.c.status_next], limit=limit)
    if isinstance(cell, VintageCell):
        cohort = month_end(cell.cohort)
        target = _add_months(cohort, cell.mob)
        p = P.alias("p")
        conds += [L.c.disbursement_date >= month_start(cohort), L.c.disbursement_date <= cohort]
        at = p.c.as_of == target
        if cell.measure == "dpd_gt_30":
            conds += [at, p.c.status == "active", p.c.dpd > 30]
            return loan_list(conn, p, conds, limit=limit)
        if cell.measure == "all":
            conds.append(at)
            return loan_list(conn, p, conds, limit=limit)
        if cell.measure == "default":
            d = P.alias("d")
            defaulted = sa.select(d.c.loan_id).where(
                sa.or_(d.c.dpd > 90, d.c.status == "written_off"),
                d.c.as_of >= month_start(cohort),
                d.c.as_of <= target,
            )
            at_target = sa.select(P).where(P.c.as_of == target).subquery("at_target")
            conds.append(L.c.loan_id.in_(defaulted))
            return loan_list(conn, at_target, conds, limit=limit, outer=True)
        raise ValueError(f"unknown vintage measure {cell.measure!r}")
    raise TypeError(f"cannot drill down into {type(cell).__name__}")
