"""Regional risk reads and wiring: the region table and the branch table of one month.

One SQL statement aggregates per (month, region or branch) in the database
(:func:`risk_aggregates`: the sums of ``data.read.book_aggregates`` plus the collateral
sums, for the month, m-1 and m-12 in one scan); ``analytics.kpi`` turns the sums into KPIs
and ``analytics.regional`` adds changes and ranks. Every read takes ``conn, scope, filters``
and builds on ``data.read.book_conditions``: a regional head sees only the regions of the
scope and their branches, whatever the filters ask.

Expected loss comes from ``data.credit.ecl_by_months(conn, scope, filters, by, months)``
(IFRS 9 style ECL by dimension, built in ``data.credit``: the month, m-1 and m-12 in one
read, each cached until the next import) when that function exists; otherwise the
``expected_loss`` column is NaN — no loss formula is invented here (see
:func:`expected_loss_by_months`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import sqlalchemy as sa

from analytics import regional
from analytics.classification import CLASSES
from analytics.kpi import DEFAULT_POLICY, THRESHOLDS as OVERDUE_THRESHOLDS, ProvisionPolicy, book_kpis
from data import read
from data.kept_reads import selection_parts
from data.read import Filters, Scope, book_conditions, month_end, read_frame, scope_condition
from data.result_cache import ResultCache
from data.schema import Branch, Loan, Performance
from data.scores import shift_month

__all__ = [
    "NOT_COLLATERAL",
    "risk_aggregates",
    "expected_loss_by",
    "expected_loss_by_months",
    "risk_kpis",
    "regional_risk",
    "branch_risk",
]

P = Performance.__table__
L = Loan.__table__
B = Branch.__table__

NOT_COLLATERAL: tuple[str, ...] = ("none", "guarantee")
"""Collateral types that do not make a loan collateralised (a guarantee is not a pledge)."""

_GROUPS = ("region_code", "branch_id")

_RISK_CACHE = ResultCache("risk_sums", version=1, max_memory=128)
"""One month's :func:`risk_aggregates` per store, data version, scope, filters and grouping."""


def _month_filters(filters: Filters, month: dt.date | None) -> Filters:
    return replace(filters, as_of=month, start=None, end=None)


def _money(expr: sa.ColumnElement) -> sa.ColumnElement:
    """A money sum as a double in SQL (``sa.Double``: DuckDB's ``FLOAT`` would be 4-byte)."""
    return sa.cast(sa.func.coalesce(expr, 0), sa.Double)


def risk_aggregates(
    conn: sa.Connection, scope: Scope, filters: Filters, by: str, months: Sequence[dt.date]
) -> pd.DataFrame:
    """Per month and ``by`` group, the sums of the risk table; each month's kept until the
    next import.

    Each month's sums are kept (``data.result_cache``, kind ``risk_sums``: memory and
    Parquet) under the store, its data version, the scope, the filters' regions, products
    and segments, ``by`` and the month; the months not kept are read in one statement
    (:func:`_read_risk_aggregates`). So moving the as-of month one back reads two months,
    not three (the month before was read as the comparison month), and a server restart
    reads none.

    A loan of the book is collateralised when ``loans.collateral_type`` is not in
    :data:`NOT_COLLATERAL` (a missing type counts when a value is given) and its latest
    collateral value — ``performance.collateral_value`` at the month, else
    ``loans.collateral_value`` at origination — is > 0.

    Returns
    -------
    DataFrame
        ``as_of``, ``by``, the columns of ``data.read.book_aggregates`` (``loans``,
        ``balance``, ``loans_dpd_gt_k``/``balance_dpd_gt_k`` for k = 0, 30, 90,
        ``loans_<class>``/``balance_<class>``), and ``collateralised_loans``,
        ``collateralised_balance`` (Σ balance), ``collateral_value`` (Σ latest value).
        Money as float in the store's currency; sorted by month then group.
    """
    if by not in _GROUPS:
        raise ValueError(f"cannot group the risk table by {by!r}; choose from {_GROUPS}")
    wanted = sorted({month_end(m) for m in months})
    base = {**selection_parts(scope, _month_filters(filters, None)), "by": by}
    keys = dict(zip(wanted, _RISK_CACHE.keys(conn, [{**base, "month": m.isoformat()} for m in wanted])))
    found = {m: hit for m in wanted if (hit := _RISK_CACHE.get(keys[m][1])) is not None}
    todo = [m for m in wanted if m not in found]
    if todo:
        read_now = _read_risk_aggregates(conn, scope, filters, by, todo)
        for m in todo:
            found[m] = read_now[read_now["as_of"] == m].reset_index(drop=True)
            _RISK_CACHE.put(*keys[m], found[m])
    frames = [found[m] for m in wanted if len(found[m])]
    if not frames:
        return found[wanted[0]] if wanted else _read_risk_aggregates(conn, scope, filters, by, [])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _read_risk_aggregates(
    conn: sa.Connection, scope: Scope, filters: Filters, by: str, months: Sequence[dt.date]
) -> pd.DataFrame:
    """:func:`risk_aggregates` read from the store: the book at each month (active rows in
    scope under the filters, ``as_of`` in ``months``), one scan for all months, conditional
    sums written as ``SUM(CASE …)`` (on DuckDB several times faster than ``FILTER`` here)
    and cast to double."""
    pledgeable = (
        sa.select(L.c.loan_id, L.c.collateral_value)
        .where(sa.or_(L.c.collateral_type.is_(None), L.c.collateral_type.not_in(NOT_COLLATERAL)))
        .subquery("pledgeable")
    )
    bal = P.c.outstanding_principal
    value = sa.func.coalesce(P.c.collateral_value, pledgeable.c.collateral_value)
    pledged = sa.and_(pledgeable.c.loan_id.is_not(None), value > 0)

    def n_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement:
        return sa.func.count(sa.case((cond, 1)))

    def sum_if(cond: sa.ColumnElement[bool], expr: sa.ColumnElement = bal) -> sa.ColumnElement:
        return _money(sa.func.sum(sa.case((cond, expr))))

    cols: list[sa.ColumnElement] = [sa.func.count().label("loans"), _money(sa.func.sum(bal)).label("balance")]
    for k in OVERDUE_THRESHOLDS:
        cols += [n_if(P.c.dpd > k).label(f"loans_dpd_gt_{k}"), sum_if(P.c.dpd > k).label(f"balance_dpd_gt_{k}")]
    for c in CLASSES:
        cols += [n_if(P.c.classification == c).label(f"loans_{c}"), sum_if(P.c.classification == c).label(f"balance_{c}")]
    cols += [
        n_if(pledged).label("collateralised_loans"),
        sum_if(pledged).label("collateralised_balance"),
        sum_if(pledged, value).label("collateral_value"),
    ]
    conds = book_conditions(scope, filters, months=False)
    conds.append(P.c.as_of.in_(sorted({month_end(m) for m in months})))
    keys = [P.c.as_of, P.c[by]]
    stmt = (
        sa.select(*keys, *cols)
        .select_from(P.outerjoin(pledgeable, pledgeable.c.loan_id == P.c.loan_id))
        .where(*conds)
        .group_by(*keys)
        .order_by(*keys)
    )
    return read_frame(conn, stmt)


def expected_loss_by(
    conn: sa.Connection, scope: Scope, filters: Filters, by: str, month: dt.date
) -> pd.DataFrame | None:
    """Expected loss at ``month`` by ``by``: :func:`expected_loss_by_months` of one month.

    Returns
    -------
    DataFrame or None
        ``by`` and ``expected_loss`` (store currency) per group; ``None`` while
        ``data.credit.ecl_by_months`` is not available, in which case the tables show NaN.
    """
    out = expected_loss_by_months(conn, scope, filters, by, [month])
    return None if out is None else out.drop(columns="as_of")


def expected_loss_by_months(
    conn: sa.Connection, scope: Scope, filters: Filters, by: str, months: Sequence[dt.date]
) -> pd.DataFrame | None:
    """The hook for expected loss: ``data.credit.ecl_by_months`` by ``by``, summed over the
    stages, for ``months`` at once (one read of the months' books; cached per month by
    ``data.credit`` until the next import).

    Returns
    -------
    DataFrame or None
        ``as_of``, ``by`` and ``expected_loss`` (store currency; NaN when a loan of the
        group has no PD) per month and group; ``None`` while ``data.credit.ecl_by_months``
        is not available.
    """
    try:
        from data.credit import ecl_by_months  # built by the credit-risk work; optional here
    except ImportError:
        return None
    frame = ecl_by_months(conn, scope, _month_filters(filters, None), (by,), [month_end(m) for m in months])
    if frame.empty:
        return pd.DataFrame({"as_of": pd.Series(dtype=object), by: pd.Series(dtype=object),
                             "expected_loss": pd.Series(dtype=float)})
    total = frame.groupby(["as_of", by], dropna=False, sort=True)["ecl"].agg(lambda v: v.sum(skipna=False))
    return total.rename("expected_loss").reset_index()


def risk_kpis(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    by: str,
    months: Sequence[dt.date],
    policy: ProvisionPolicy = DEFAULT_POLICY,
    *,
    expected_loss: bool = True,
) -> pd.DataFrame:
    """KPIs per (month, ``by`` group) for ``months``: book KPIs, collateral, expected loss.

    Returns
    -------
    DataFrame
        :func:`risk_aggregates` with the ``analytics.kpi.book_kpis`` columns,
        ``collateral_coverage`` and ``expected_loss`` (NaN without ``data.credit.ecl_by`` or
        with ``expected_loss=False``).
    """
    agg = risk_aggregates(conn, scope, filters, by, months)
    if agg.empty:
        return pd.DataFrame(columns=["as_of", by, "balance", "loans"])
    kpis = book_kpis(agg, policy)
    kpis["collateral_coverage"] = regional.collateral_coverage(kpis)
    el = expected_loss_by_months(conn, scope, filters, by, list(kpis["as_of"].unique())) if expected_loss else None
    if el is not None:
        kpis = kpis.merge(el, on=["as_of", by], how="left")
    else:
        kpis["expected_loss"] = np.nan
    return kpis


def _latest_month(conn: sa.Connection, scope: Scope, filters: Filters) -> dt.date | None:
    """The latest month with a book in scope, not after ``filters.end`` (nor before ``start``)."""
    months = read.stored_months(conn, scope, filters)  # all stored months (no month filter)
    if filters.end is not None:
        months = [m for m in months if m <= month_end(filters.end)]
    if filters.start is not None:
        months = [m for m in months if m >= month_end(filters.start)]
    return months[-1] if months else None


def _table(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    by: str,
    as_of: dt.date | None,
    rank_by: str,
    policy: ProvisionPolicy,
    expected_loss: bool,
) -> pd.DataFrame:
    month = month_end(as_of) if as_of is not None else (
        month_end(filters.as_of) if filters.as_of is not None else _latest_month(conn, scope, filters)
    )
    if month is None:
        return pd.DataFrame(columns=[by, "as_of", "balance", "loans", "rank"])
    prev, yago = shift_month(month, -1), shift_month(month, -12)
    kpis = risk_kpis(conn, scope, filters, by, [month, prev, yago], policy, expected_loss=expected_loss)
    if kpis.empty:
        return pd.DataFrame(columns=[by, "as_of", "balance", "loans", "rank"])
    return regional.risk_table(kpis, by, month, previous=prev, year_ago=yago, rank_by=rank_by)


def regional_risk(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    as_of: dt.date | None = None,
    *,
    rank_by: str = regional.DEFAULT_RANK_BY,
    policy: ProvisionPolicy = DEFAULT_POLICY,
    expected_loss: bool = True,
) -> pd.DataFrame:
    """The regional risk table at one month, with changes versus m-1 and m-12 and a rank.

    Parameters
    ----------
    as_of : date, optional
        Any day of the month; default ``filters.as_of``, else the latest stored month in
        scope (not after ``filters.end``).
    rank_by : str
        The metric ranked, 1 = worst (default 30+ DPD overdue rate by balance).
    expected_loss : bool
        Fill ``expected_loss`` from ``data.credit.ecl_by_months`` (loan-level PD and ECL
        for the three months, one read, cached until the next import: the slowest part
        when not cached); False leaves it NaN.

    Returns
    -------
    DataFrame
        One row per region with a book at the month (in scope, under the filters), sorted
        by rank: ``region_code``, ``name_zh``, ``short_zh``, ``name_en`` (from the regions
        table), ``as_of``, the ``risk_kpis`` columns, ``<metric>_mom``/``<metric>_yoy`` and
        ``rank``; see ``analytics.regional.risk_table``.
    """
    table = _table(conn, scope, filters, "region_code", as_of, rank_by, policy, expected_loss)
    names = read.regions_frame(conn, scope)
    out = table.merge(names, on="region_code", how="left")
    lead = ["region_code", "name_zh", "short_zh", "name_en"]
    out = out[lead + [c for c in out.columns if c not in lead]]
    out.attrs.update(table.attrs)
    return out


def branch_risk(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    region_code: str,
    as_of: dt.date | None = None,
    *,
    rank_by: str = regional.DEFAULT_RANK_BY,
    policy: ProvisionPolicy = DEFAULT_POLICY,
    expected_loss: bool = True,
) -> pd.DataFrame:
    """The branch risk table of one region at one month (as :func:`regional_risk`).

    Empty when ``region_code`` is outside the scope. Columns: ``branch_id``,
    ``branch_name`` (branches table), ``region_code``, then those of :func:`regional_risk`.
    Loans without a branch form one row with ``branch_id`` missing.
    """
    f = replace(filters, regions=(region_code,))
    if not scope.allows(region_code) or (filters.regions and region_code not in filters.regions):
        return pd.DataFrame(columns=["branch_id", "branch_name", "region_code", "as_of", "balance", "loans", "rank"])
    table = _table(conn, scope, f, "branch_id", as_of, rank_by, policy, expected_loss)
    stmt = sa.select(B.c.branch_id, B.c.name.label("branch_name")).where(
        scope_condition(scope, B.c.region_code), B.c.region_code == region_code
    )
    names = read_frame(conn, stmt)
    out = table.merge(names, on="branch_id", how="left")
    out.insert(2, "region_code", region_code)
    lead = ["branch_id", "branch_name", "region_code"]
    out = out[lead + [c for c in out.columns if c not in lead]]
    out.attrs.update(table.attrs)
    return out
