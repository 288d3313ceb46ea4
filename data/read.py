"""The read layer: aggregated frames computed in SQL, always inside a user's scope.

Every public function takes a :class:`Scope` (the region codes a user may see, or all)
and a :class:`Filters` (the global filters of the app), both required: there is no way
to read without saying whose view it is. Aggregation runs in the database (SQLAlchemy
Core, the same statement on DuckDB and PostgreSQL); what comes back is one row per group,
never the loan-level table.

Units: money in the store's currency (float), counts as ints, ``as_of`` as the month's
last day (``datetime.date``), ``dpd`` in days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from analytics.classification import CLASSES
from data.schema import Loan, Performance, Region, StoreSetting

__all__ = [
    "Scope",
    "Filters",
    "DIMENSIONS",
    "book_conditions",
    "stored_months",
    "book_aggregates",
    "regions_frame",
    "store_facts",
    "distinct_values",
    "month_end",
    "month_start",
    "read_frame",
    "scope_condition",
]

P = Performance.__table__

DIMENSIONS: tuple[str, ...] = ("region_code", "branch_id", "product", "segment")
"""Columns a book aggregate may be grouped by."""

OVERDUE_THRESHOLDS: tuple[int, ...] = (0, 30, 90)
"""dpd > k for the 1+, 30+ and 90+ DPD rates."""


@dataclass(frozen=True)
class Scope:
    """The regions a user may see. ``regions=None`` means every region.

    Build with :meth:`all` or :meth:`of`; an empty ``of()`` sees nothing.
    """

    regions: frozenset[str] | None

    @classmethod
    def all(cls) -> Scope:
        """Every region (managers, risk committee, administrators)."""
        return cls(None)

    @classmethod
    def of(cls, codes: Iterable[str]) -> Scope:
        """Only these region codes (a regional head)."""
        return cls(frozenset(codes))

    def allows(self, code: str) -> bool:
        """True when this scope may see region ``code``."""
        return self.regions is None or code in self.regions


@dataclass(frozen=True)
class Filters:
    """The app's global filters. Empty tuples and ``None`` mean "no filter".

    ``as_of`` picks one month (any day of it); ``start``/``end`` bound a range of months
    (inclusive, any day of the month). Regions outside the scope are never shown, whatever
    is asked here.
    """

    as_of: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    regions: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()


def month_end(d: dt.date) -> dt.date:
    """The last day of ``d``'s month."""
    nxt = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


def month_start(d: dt.date) -> dt.date:
    """The first day of ``d``'s month."""
    return d.replace(day=1)


def scope_condition(scope: Scope, region_col: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """WHERE condition keeping only rows whose ``region_col`` the scope may see."""
    if scope.regions is None:
        return sa.true()
    if not scope.regions:
        return sa.false()
    return region_col.in_(sorted(scope.regions))


def book_conditions(
    scope: Scope, filters: Filters, *, table: sa.Table = P, active_only: bool = True, months: bool = True
) -> list[sa.ColumnElement[bool]]:
    """WHERE conditions for the book in ``scope`` under ``filters`` on the performance table.

    The book at a month is the rows with ``status = 'active'`` (metrics.md). With
    ``months=False`` the month filters are left out (for reads that need history).
    """
    conds: list[sa.ColumnElement[bool]] = [scope_condition(scope, table.c.region_code)]
    if active_only:
        conds.append(table.c.status == "active")
    if months:
        if filters.as_of is not None:
            conds.append(table.c.as_of == month_end(filters.as_of))
        if filters.start is not None:
            conds.append(table.c.as_of >= month_end(filters.start))
        if filters.end is not None:
            conds.append(table.c.as_of <= month_end(filters.end))
    if filters.regions:
        conds.append(table.c.region_code.in_(list(filters.regions)))
    if filters.products:
        conds.append(table.c.product.in_(list(filters.products)))
    if filters.segments:
        conds.append(table.c.segment.in_(list(filters.segments)))
    return conds


def read_frame(conn: sa.Connection, stmt: sa.Select) -> pd.DataFrame:
    """Execute ``stmt`` and return its rows as a DataFrame with the statement's column names."""
    result = conn.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def stored_months(conn: sa.Connection, scope: Scope, filters: Filters | None = None) -> list[dt.date]:
    """Month ends with at least one active loan in scope (and filters), oldest first."""
    f = filters or Filters()
    stmt = sa.select(P.c.as_of).where(*book_conditions(scope, f, months=False)).distinct().order_by(P.c.as_of)
    return [r[0] for r in conn.execute(stmt)]


def _money(expr: sa.ColumnElement) -> sa.ColumnElement:
    """Money as DOUBLE PRECISION (sa.Float is 32-bit REAL on DuckDB), 0 when NULL."""
    return sa.cast(sa.func.coalesce(expr, 0), sa.Double)


def _count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement:
    """Rows where ``cond`` holds. SUM(CASE …) rather than COUNT(*) FILTER: same result on
    both dialects, and about 2.5x faster on DuckDB for many conditional sums in one pass."""
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def _sum_if(cond: sa.ColumnElement[bool], value: sa.ColumnElement) -> sa.ColumnElement:
    """Σ ``value`` over rows where ``cond`` holds (NULL when no row; see :func:`_money`)."""
    return sa.func.sum(sa.case((cond, value), else_=0))


def book_aggregates(
    conn: sa.Connection, scope: Scope, filters: Filters, by: Sequence[str] = ()
) -> pd.DataFrame:
    """Per month (and per ``by`` dimension), the sums every book KPI is built from.

    Columns: ``as_of``, the ``by`` columns, ``loans`` (count of active loans),
    ``balance`` (Σ outstanding_principal), for k in 0, 30, 90: ``loans_dpd_gt_k`` and
    ``balance_dpd_gt_k`` (loans and balance with dpd > k), and for each class c of the
    five-level classification ``balance_c`` and ``loans_c``. Sorted by month then ``by``.
    """
    bad = [d for d in by if d not in DIMENSIONS]
    if bad:
        raise ValueError(f"cannot group the book by {bad}; choose from {DIMENSIONS}")
    bal = P.c.outstanding_principal
    cols: list[sa.ColumnElement] = [
        sa.func.count().label("loans"),
        _money(sa.func.sum(bal)).label("balance"),
    ]
    for k in OVERDUE_THRESHOLDS:
        cols.append(_count_if(P.c.dpd > k).label(f"loans_dpd_gt_{k}"))
        cols.append(_money(_sum_if(P.c.dpd > k, bal)).label(f"balance_dpd_gt_{k}"))
    for c in CLASSES:
        cols.append(_count_if(P.c.classification == c).label(f"loans_{c}"))
        cols.append(_money(_sum_if(P.c.classification == c, bal)).label(f"balance_{c}"))
    keys = [P.c.as_of, *(P.c[d] for d in by)]
    stmt = sa.select(*keys, *cols).where(*book_conditions(scope, filters)).group_by(*keys).order_by(*keys)
    return read_frame(conn, stmt)


def regions_frame(conn: sa.Connection, scope: Scope) -> pd.DataFrame:
    """The store's regions the scope may see: region_code, name_zh, short_zh, name_en."""
    stmt = (
        sa.select(Region.region_code, Region.name_zh, Region.short_zh, Region.name_en)
        .where(scope_condition(scope, Region.region_code))
        .order_by(Region.region_code)
    )
    return read_frame(conn, stmt)


def store_facts(conn: sa.Connection) -> dict[str, str]:
    """Store settings (region_set, currency) as a dict; empty for a store never loaded."""
    return {k: v for k, v in conn.execute(sa.select(StoreSetting.key, StoreSetting.value))}


def distinct_values(conn: sa.Connection, scope: Scope, column: str) -> list[str]:
    """Distinct values of a loan dimension (product, segment, ...) among loans in scope."""
    if column not in DIMENSIONS:
        raise ValueError(f"unknown dimension {column!r}")
    col = Loan.__table__.c[column]
    stmt = sa.select(col).where(scope_condition(scope, Loan.__table__.c.region_code), col.is_not(None)).distinct().order_by(col)
    return [r[0] for r in conn.execute(stmt)]
