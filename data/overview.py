"""Reads for the Overview and Delinquency pages that no domain module has yet.

Wiring only: the sums come from ``data.read`` / ``data.reports`` / ``data.alerts`` (SQL,
aggregated in the database) and the maths from ``analytics.overview`` (which builds on
``analytics.kpi`` and ``analytics.regional.period_changes``). Every function that reads
takes ``conn, scope, filters`` first and builds on ``data.read.book_conditions``, so
nothing outside the scope is read. ``with_alerts``, ``rank_movers`` and ``MOVER_METRICS``
are ``analytics.overview``'s, re-exported here for the pages that import them from here.

* :func:`high_alerts` — the number of high alerts of each month whose alerts are current;
  ``with_alerts`` puts it beside the book KPIs (``data.reports.monthly_kpis``): the frame
  behind the KPI cards and their sparklines.
* :func:`book_cube` — the book's loans and Σ balance (integer cents) per month, region,
  product, DPD band and class: one pass over the months that serves the KPI series of any
  region / product selection (:func:`cube_kpis`, the numbers of ``monthly_kpis``) and the
  movers of any month (:func:`cube_movers`) without reading the store again. The Overview
  reads it for the whole history under :func:`cube_filters` (regions and products are
  picked from it), so changing the as-of month, the regions or the products reads nothing.
* :func:`movers` — each region's and product's KPIs and their change against the previous
  month (one pass over the two months' cube); ``rank_movers`` picks those that moved most.
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

import pandas as pd
import sqlalchemy as sa

from analytics.classification import CLASSES
from analytics.kpi import DEFAULT_POLICY, THRESHOLDS, ProvisionPolicy, book_kpis
from analytics.overview import (
    CUBE_COLUMNS,
    MOVER_METRICS,
    cube_rows,
    cube_sums,
    group_changes,
    high_alert_counts,
    month_provisions,
    rank_movers,
    with_alerts,
)
from data import read
from data.alert_runs import month_status
from data.alerts import alert_counts, load_rules
from data.config import settings
from data.kept_reads import kept_frame, selection_parts
from data.result_cache import ResultCache
from data.delinquency import DRILL_LIMIT, LoanList, loan_list, previous_month
from data.read import Filters, Scope, book_conditions, month_end
from data.schema import Performance

__all__ = [
    "MOVER_DIMENSIONS",
    "MOVER_METRICS",
    "high_alerts",
    "with_alerts",
    "CUBE_COLUMNS",
    "book_cube",
    "cube_filters",
    "cube_kpis",
    "cube_movers",
    "movers",
    "rank_movers",
    "provisions_at",
    "overdue_loans",
    "class_loans",
    "currency",
]

P = Performance.__table__

_CUBE_CACHE = ResultCache("book_cube", version=1, max_memory=8)
"""Book cubes (:func:`book_cube`) per store, data version, scope and filters."""

MOVER_DIMENSIONS: tuple[str, ...] = ("region_code", "product")
"""Dimensions whose groups :func:`movers` compares month on month."""


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
    if counts.empty:
        return high_alert_counts(counts, [])
    rules = load_rules()
    current = [m for m in sorted(set(counts["as_of"])) if month_status(conn, m, rules) is not None]
    return high_alert_counts(counts, current)


def cube_filters(filters: Filters) -> Filters:
    """The filters to read :func:`book_cube` with for ``filters``: without the regions and
    the products (cube dimensions, picked from the cube by :func:`cube_kpis` and
    :func:`cube_movers`), so a change of either reuses the cached cube."""
    return replace(filters, regions=(), products=())


def book_cube(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """The book in scope under ``filters``: loans and Σ balance per month, region, product,
    DPD band and class (one GROUP BY in the database).

    Returns
    -------
    DataFrame
        ``analytics.overview.CUBE_COLUMNS``: ``as_of`` (month end), ``region_code``,
        ``product``, ``dpd_band`` (0: dpd ≤ 0 or missing; 1: 1-30; 2: 31-90; 3: > 90 — the
        number of ``analytics.kpi.THRESHOLDS`` exceeded), ``classification``, ``loans``
        (count of active loans) and ``balance_cents`` (Σ outstanding principal in cents of
        the store's currency, an exact integer: NUMERIC(18,2) × 100). Sorted by the keys;
        ``attrs["filters"]`` the filters it was read with. Kept until the next import
        (``data.result_cache``, kind ``book_cube``: memory and Parquet), so a server restart
        reads it from disk (some 40,000 rows at 1M loans × 36 months).
    """
    p = P
    band = sa.case(
        *[(p.c.dpd > int(k), sa.literal_column(str(i))) for i, k in reversed(list(enumerate(THRESHOLDS, start=1)))],
        else_=sa.literal_column("0"),
    ).label("dpd_band")
    cents = sa.cast(sa.func.sum(p.c.outstanding_principal) * 100, sa.BigInteger).label("balance_cents")
    keys = [p.c.as_of, p.c.region_code, p.c.product]
    stmt = (
        sa.select(*keys, band, p.c.classification, sa.func.count().label("loans"), cents)
        .where(*book_conditions(scope, filters))
        .group_by(*keys, band, p.c.classification)
        .order_by(*keys, band, p.c.classification)
    )
    out = kept_frame(_CUBE_CACHE, conn, selection_parts(scope, filters), lambda: read.read_frame(conn, stmt))
    out.attrs["filters"] = filters
    return out


def _picked(cube: pd.DataFrame, filters: Filters, **months: object) -> pd.DataFrame:
    """The cube's rows in ``filters``' regions and products (and ``months`` selection); the
    cube must have been read with ``filters``' other dimension filters."""
    read_with = cube.attrs.get("filters")
    if read_with is not None and read_with.segments != filters.segments:
        raise ValueError(f"the cube was read for segments {read_with.segments}, not {filters.segments}")
    return cube_rows(cube, regions=filters.regions, products=filters.products, **months)


def cube_kpis(
    cube: pd.DataFrame, filters: Filters, policy: ProvisionPolicy = DEFAULT_POLICY, by: tuple[str, ...] = ()
) -> pd.DataFrame:
    """``data.reports.monthly_kpis(conn, scope, filters, by, policy=policy)`` from a cube of
    :func:`book_cube` read in the same scope with ``cube_filters(filters)`` or wider months:
    the same columns and the same numbers (the cube's integer sums are exact), per month of
    ``filters`` (``as_of`` or ``start``..``end``; all without) and per ``by`` (cube
    dimensions: ``region_code``, ``product``)."""
    months = {"months": [month_end(filters.as_of)]} if filters.as_of is not None else {}
    start = month_end(filters.start) if filters.start is not None else None
    end = month_end(filters.end) if filters.end is not None else None
    rows = _picked(cube, filters, start=start, end=end, **months)
    return book_kpis(cube_sums(rows, by), policy)


def cube_movers(
    cube: pd.DataFrame,
    filters: Filters,
    month: dt.date,
    names: pd.DataFrame,
    policy: ProvisionPolicy = DEFAULT_POLICY,
) -> dict[str, pd.DataFrame]:
    """:func:`movers` from a cube of :func:`book_cube` holding ``month`` and the month
    before (read in scope with ``cube_filters(filters)``); ``names`` is
    ``data.read.regions_frame`` (``region_code``, ``name_zh``, ``short_zh``, ``name_en``).
    Each dimension's sums are summed from the cube's integers (exact)."""
    m = month_end(month)
    prev = previous_month(m)
    rows = _picked(cube, filters, months=[prev, m])
    changes = {by: group_changes(cube_sums(rows, (by,)), by, m, prev, policy) for by in MOVER_DIMENSIONS}
    changes["region_code"] = _with_names(changes["region_code"], names)
    return changes


def movers(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    month: dt.date,
    policy: ProvisionPolicy = DEFAULT_POLICY,
) -> dict[str, pd.DataFrame]:
    """Each region's and each product's KPIs at ``month`` and the month before, and the changes.

    One pass over the two months' book (:func:`book_cube`), then
    ``analytics.overview.group_changes`` for each dimension, with the regions' names
    (:func:`cube_movers`).

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
    cube = book_cube(conn, scope, replace(cube_filters(filters), as_of=None, start=prev, end=m))
    return cube_movers(cube, filters, m, read.regions_frame(conn, scope), policy)


def _with_names(changes: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """The region frame of ``group_changes`` with the regions' names after ``region_code``."""
    out = changes.merge(names, on="region_code", how="left")
    out = out[["region_code", "name_zh", "short_zh", "name_en", *changes.columns[1:]]]
    return out.sort_values("region_code").reset_index(drop=True)


def provisions_at(
    kpis: pd.DataFrame, month: dt.date, policy: ProvisionPolicy = DEFAULT_POLICY
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The provision table and the regulatory check of one month, from a cached KPI frame.

    ``kpis`` is ``data.reports.monthly_kpis`` (it holds the class sums of
    ``data.read.book_aggregates``), so no second read of the month is needed; ``month`` is
    any day of the month. ``analytics.overview.month_provisions`` of the month end: the
    same frames as ``data.classification.provision_table`` and ``provision_check``; a month
    without a book gives a table of zeros and a check without rows.
    """
    return month_provisions(kpis, month_end(month), policy)


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
