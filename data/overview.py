"""Reads for the Overview and Delinquency pages that no domain module has yet.

Wiring only: the sums come from ``data.read`` / ``data.reports`` / ``data.alerts`` (SQL,
aggregated in the database) and the maths from ``analytics`` (``analytics.kpi`` for the
KPIs, ``analytics.regional.period_changes`` for month-on-month changes). Every function
that reads takes ``conn, scope, filters`` first and builds on ``data.read.book_conditions``,
so nothing outside the scope is read.

* :func:`high_alerts` and :func:`with_alerts` — the number of high alerts of each month
  whose alerts are current, beside the book KPIs (``data.reports.monthly_kpis``): the
  frame behind the KPI cards and their sparklines.
* :func:`movers` and :func:`rank_movers` — the regions and products whose KPIs moved most
  against the previous month (one pass over the two months for both).
* :func:`provisions_at` — the provision table and the check against the regulatory
  minimums of one month, from the KPI frame already read.
* :func:`overdue_loans` and :func:`class_loans` — the loan lists behind a point of the
  overdue-rate trend (loans with dpd > k at a month) and behind a bar of the class mix
  (loans in class c at a month), as ``data.delinquency.drill_down`` gives them for the
  other charts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import sqlalchemy as sa

from analytics import provisions as pv
from analytics.classification import CLASSES
from analytics.kpi import DEFAULT_POLICY, THRESHOLDS, ProvisionPolicy, book_kpis, rollup
from analytics.regional import period_changes
from data import read
from data.alert_runs import month_status
from data.alerts import alert_counts, load_rules
from data.config import settings
from data.delinquency import DRILL_LIMIT, LoanList, loan_list, previous_month
from data.read import Filters, Scope, book_conditions, month_end
from data.schema import Performance

__all__ = [
    "MOVER_DIMENSIONS",
    "MOVER_METRICS",
    "high_alerts",
    "with_alerts",
    "movers",
    "rank_movers",
    "provisions_at",
    "overdue_loans",
    "class_loans",
    "currency",
]

P = Performance.__table__

MOVER_DIMENSIONS: tuple[str, ...] = ("region_code", "product")
"""Dimensions whose groups :func:`movers` compares month on month."""

MOVER_METRICS: tuple[str, ...] = (
    "overdue_rate_30_balance",
    "overdue_rate_90_balance",
    "overdue_rate_1_balance",
    "npl_ratio",
    "balance",
)
"""Metrics :func:`movers` gives the change of: rates (difference, fraction points) and the
balance (relative change, ``x_m ÷ x_{m-1} − 1``), as ``analytics.regional.period_changes``."""


def high_alerts(conn: sa.Connection, scope: Scope, filters: Filters, refresh: int = 0) -> pd.DataFrame:
    """High-level alerts per month in scope, for the months whose alerts are current.

    A month's alerts are current when the Early warning page has evaluated them at the
    store's current data version and rule set (``data.alert_runs.month_status``); alerts
    left from an older load are not counted. Filters apply as in
    ``data.alerts.read_alerts`` (regions, products, segments; months when given).

    ``refresh`` is not used in the read: it only lets a page make the cache key change
    (alerts are evaluated without a new data version, so a cache keyed by the data version
    alone would keep showing "not evaluated").

    Returns
    -------
    DataFrame
        ``as_of`` and ``high_alerts`` (alerts of level ``high``; 0 when the month is current
        but has none), one row per current month; a month never evaluated (or stale) has no
        row.
    """
    del refresh
    counts = alert_counts(conn, scope, filters)
    empty = pd.DataFrame({"as_of": pd.Series(dtype=object), "high_alerts": pd.Series(dtype="int64")})
    if counts.empty:
        return empty
    rules = load_rules()
    current = [m for m in sorted(set(counts["as_of"])) if month_status(conn, m, rules) is not None]
    if not current:
        return empty
    counts = counts[counts["as_of"].isin(current)]
    high = counts["alerts"].where(counts["level"] == "high", 0)
    out = high.groupby(counts["as_of"]).sum().reindex(current, fill_value=0)
    return out.rename("high_alerts").rename_axis("as_of").reset_index().astype({"high_alerts": "int64"})


def with_alerts(kpis: pd.DataFrame, alerts: pd.DataFrame) -> pd.DataFrame:
    """The KPI frame (``data.reports.monthly_kpis``) with a ``high_alerts`` column.

    ``alerts`` is :func:`high_alerts`; a month without a row there gets NaN (shown as "—":
    not evaluated), not 0. Sorted by month. Pure, so a page can join two cached reads.
    """
    out = kpis.merge(alerts, on="as_of", how="left") if not kpis.empty else kpis.assign(high_alerts=np.nan)
    out["high_alerts"] = out["high_alerts"].astype("float64")
    return out.sort_values("as_of").reset_index(drop=True)


def movers(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    month: dt.date,
    policy: ProvisionPolicy = DEFAULT_POLICY,
) -> dict[str, pd.DataFrame]:
    """Each region's and each product's KPIs at ``month`` and the month before, and the changes.

    One pass over the two months' book grouped by region and product
    (``data.read.book_aggregates``), rolled up to each dimension (``analytics.kpi.rollup``:
    the sums add up), then ``analytics.kpi.book_kpis`` and
    ``analytics.regional.period_changes``.

    Parameters
    ----------
    month
        Any day of the month compared with the previous calendar month.

    Returns
    -------
    dict
        For each dimension d of :data:`MOVER_DIMENSIONS`, a frame with one row per group
        with a book at ``month`` (in scope, under the region / product / segment filters):
        ``d``, for regions ``name_zh``, ``short_zh`` and ``name_en``, ``loans``, and for
        each metric ``x`` of :data:`MOVER_METRICS`: ``x`` (at ``month``), ``x_prev`` (at the
        month before; NaN without a book then) and ``x_change`` (rates: difference in
        fraction points; balance: relative change). Sorted by ``d``.
    """
    m = month_end(month)
    prev = previous_month(m)
    sums = read.book_aggregates(conn, scope, replace(filters, as_of=None, start=prev, end=m), MOVER_DIMENSIONS)
    names = read.regions_frame(conn, scope)
    return {by: _changes(sums, by, m, prev, policy, names) for by in MOVER_DIMENSIONS}


def _changes(
    sums: pd.DataFrame, by: str, month: dt.date, prev: dt.date, policy: ProvisionPolicy, names: pd.DataFrame
) -> pd.DataFrame:
    cols = [by, "loans", *(f"{x}{s}" for x in MOVER_METRICS for s in ("", "_prev", "_change"))]
    kpis = book_kpis(rollup(sums, ("as_of", by)), policy) if not sums.empty else sums
    cur = kpis[kpis["as_of"] == month].reset_index(drop=True) if not kpis.empty else kpis
    if cur.empty:
        out = pd.DataFrame(columns=cols)
    else:
        before = kpis[kpis["as_of"] == prev]
        changes = period_changes(cur, before, by, "change", list(MOVER_METRICS))
        aligned = before.set_index(by).reindex(cur[by].to_numpy())
        out = cur[[by, "loans", *MOVER_METRICS]].copy()
        for x in MOVER_METRICS:
            out[f"{x}_prev"] = aligned[x].astype("float64").to_numpy()
            out[f"{x}_change"] = changes[f"{x}_change"].to_numpy()
        out = out[cols]
    if by == "region_code":
        out = out.merge(names, on="region_code", how="left")
        out = out[["region_code", "name_zh", "short_zh", "name_en", *cols[1:]]]
    return out.sort_values(by).reset_index(drop=True)


def rank_movers(changes: pd.DataFrame, metric: str, top: int = 5) -> pd.DataFrame:
    """The ``top`` rows of a :func:`movers` frame with the largest absolute change of ``metric``.

    Groups whose change is NaN (no book the month before) are left out; ties keep the
    frame's order. Pure (no database), so a page can re-rank a cached frame at once.
    """
    if metric not in MOVER_METRICS:
        raise ValueError(f"metric must be one of {MOVER_METRICS}, not {metric!r}")
    col = f"{metric}_change"
    if col not in changes.columns:
        raise ValueError(f"movers frame is missing column {col!r}; it has {list(changes.columns)}")
    ranked = changes[changes[col].notna()]
    order = ranked[col].abs().sort_values(ascending=False, kind="stable").index
    return ranked.loc[order].head(top).reset_index(drop=True)


def provisions_at(
    kpis: pd.DataFrame, month: dt.date, policy: ProvisionPolicy = DEFAULT_POLICY
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The provision table and the regulatory check of one month, from a cached KPI frame.

    ``kpis`` is ``data.reports.monthly_kpis`` (it holds the class sums of
    ``data.read.book_aggregates``), so no second read of the month is needed. Returns
    ``(analytics.provisions.provision_table, analytics.provisions.regulatory_check)`` for
    ``month`` — as ``data.classification.provision_table`` and ``provision_check`` give
    them; both empty of rows when the month has no book.
    """
    rows = kpis[kpis["as_of"] == month_end(month)] if not kpis.empty else kpis
    sums = ["as_of", "balance", "loans", *(f"{k}_{c}" for c in CLASSES for k in ("balance", "loans"))]
    book = rows[sums] if not rows.empty else pd.DataFrame(columns=sums)
    check = pv.regulatory_check(book, policy) if not book.empty else pd.DataFrame()
    return pv.provision_table(book, policy), check


def overdue_loans(
    conn: sa.Connection, scope: Scope, filters: Filters, month: dt.date, threshold: int, limit: int = DRILL_LIMIT
) -> LoanList:
    """The loans behind an overdue rate: the book at ``month`` with dpd > ``threshold``.

    ``threshold`` is k of the "1+", "30+", "90+ DPD" rates (0, 30, 90). Columns of
    ``data.delinquency.loan_list``; at most ``limit`` rows, largest balance first, and the
    total count (the numerator of the rate by count).
    """
    if threshold not in THRESHOLDS:
        raise ValueError(f"threshold must be one of {THRESHOLDS}, not {threshold!r}")
    p = P.alias("p")
    month_filters = replace(filters, as_of=month_end(month), start=None, end=None)
    conds = [*book_conditions(scope, month_filters, table=p), p.c.dpd > threshold]
    return loan_list(conn, p, conds, limit=limit)


def class_loans(
    conn: sa.Connection, scope: Scope, filters: Filters, month: dt.date, cls: str, limit: int = DRILL_LIMIT
) -> LoanList:
    """The loans of the book at ``month`` whose stored class is ``cls`` (五级分类).

    Columns of ``data.delinquency.loan_list`` plus ``classification_reported``; at most
    ``limit`` rows, largest balance first, and the total count.
    """
    if cls not in CLASSES:
        raise ValueError(f"class must be one of {CLASSES}, not {cls!r}")
    p = P.alias("p")
    month_filters = replace(filters, as_of=month_end(month), start=None, end=None)
    conds = [*book_conditions(scope, month_filters, table=p), p.c.classification == cls]
    return loan_list(conn, p, conds, extra=[p.c.classification_reported], limit=limit)


def currency(conn: sa.Connection, scope: Scope) -> str:
    """The store's currency (ISO 4217): the one recorded at load, else the configured one."""
    return read.store_facts(conn).get("currency") or settings().currency
