"""Classification and provision reads: exceptions, class migration, NPL and provisions.

SQL aggregates (SQLAlchemy Core, portable) wired to ``analytics.provisions`` and
``analytics.kpi``; the definitions are theirs. Every function takes ``conn, scope,
filters`` first and builds on ``data.read.book_conditions``, so nothing outside the scope
is read. A function that takes ``month`` reads that month whatever the filters' months
say; the region / product / segment filters always apply.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd
import sqlalchemy as sa

from analytics import provisions as pv
from analytics.classification import CLASSES
from analytics.delinquency import Measure
from analytics.kpi import DEFAULT_POLICY, ProvisionPolicy, safe_ratio
from data.delinquency import DRILL_LIMIT, LoanList, loan_list, transition_sums
from data.read import Filters, Scope, book_aggregates, book_conditions, month_end, read_frame
from data.schema import Loan, Performance

__all__ = [
    "MigrationCell",
    "floor_rank_expr",
    "reported_rank_expr",
    "exception_condition",
    "exceptions",
    "exception_counts",
    "class_transitions",
    "migration_matrix",
    "migration_drill_down",
    "provision_table",
    "provision_check",
]

P = Performance.__table__
L = Loan.__table__

_FLOOR_UPPER = pv.FLOOR_UPPER_DPD


@dataclass(frozen=True)
class MigrationCell:
    """Loans active in class ``from_state`` at ``month_a`` and in ``to_state`` at ``month_b``."""

    month_a: dt.date
    month_b: dt.date
    from_state: str
    to_state: str


def floor_rank_expr(dpd: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    """SQL CASE: rank (0 normal … 4 loss) of the DPD floor class (``analytics.provisions.floor_rank``)."""
    return sa.case(*[(dpd <= up, i) for i, up in enumerate(_FLOOR_UPPER)], else_=len(_FLOOR_UPPER))


def reported_rank_expr(reported: sa.ColumnElement[str]) -> sa.ColumnElement[int]:
    """SQL CASE: rank (0 normal … 4 loss) of a reported class key; NULL when missing or unknown."""
    return sa.case({c: i for i, c in enumerate(CLASSES)}, value=reported, else_=None)


def exception_condition(table: sa.FromClause = P) -> sa.ColumnElement[bool]:
    """WHERE condition: the reported class is better than the DPD floor (NULL reported is never)."""
    return reported_rank_expr(table.c.classification_reported) < floor_rank_expr(table.c.dpd)


def _month_filters(filters: Filters, month: dt.date) -> Filters:
    return replace(filters, as_of=month_end(month), start=None, end=None)


def exceptions(
    conn: sa.Connection, scope: Scope, filters: Filters, month: dt.date, limit: int = DRILL_LIMIT
) -> LoanList:
    """Loans of the book at ``month`` whose reported class is better than the DPD floor.

    Columns as ``data.delinquency.loan_list`` (balance, dpd, stored class, score) plus
    ``classification_reported`` and ``floor_class``; largest balance first, at most
    ``limit`` rows, and the total number of exceptions.
    """
    p = P.alias("p")
    floor = sa.case(*[(p.c.dpd <= up, CLASSES[i]) for i, up in enumerate(_FLOOR_UPPER)], else_=CLASSES[-1])
    conds = [*book_conditions(scope, _month_filters(filters, month), table=p), exception_condition(p)]
    return loan_list(conn, p, conds, extra=[p.c.classification_reported, floor.label("floor_class")], limit=limit)


def exception_counts(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Per month of the filters: exceptions (loans, balance) and their share of the book.

    Columns ``as_of``, ``loans``, ``balance`` (the book), ``loans_exceptions``,
    ``balance_exceptions``, ``share_count`` and ``share_balance`` (fractions; NaN on an
    empty denominator).
    """
    bal = P.c.outstanding_principal
    exc = exception_condition(P)
    stmt = (
        sa.select(
            P.c.as_of,
            sa.func.count().label("loans"),
            sa.cast(sa.func.coalesce(sa.func.sum(bal), 0), sa.Double).label("balance"),
            # SUM(CASE …) rather than FILTER: the same on both dialects, faster on DuckDB.
            sa.func.coalesce(sa.func.sum(sa.case((exc, 1), else_=0)), 0).label("loans_exceptions"),
            sa.cast(sa.func.coalesce(sa.func.sum(sa.case((exc, bal), else_=0)), 0), sa.Double).label(
                "balance_exceptions"
            ),
        )
        .where(*book_conditions(scope, filters))
        .group_by(P.c.as_of)
        .order_by(P.c.as_of)
    )
    out = read_frame(conn, stmt)
    cols = ["as_of", "loans", "balance", "loans_exceptions", "balance_exceptions", "share_count", "share_balance"]
    if out.empty:
        return pd.DataFrame(columns=cols)
    out["share_count"] = safe_ratio(out["loans_exceptions"], out["loans"])
    out["share_balance"] = safe_ratio(out["balance_exceptions"], out["balance"])
    return out[cols]


def class_transitions(
    conn: sa.Connection, scope: Scope, filters: Filters, month_a: dt.date, month_b: dt.date
) -> pd.DataFrame:
    """Class transition sums ``month_a`` → ``month_b`` (loans active at a; balance at a).

    Columns ``as_of`` (= month b), ``from_state`` (class at a), ``to_state`` (class at b,
    or closed / written_off / missing), ``loans``, ``balance``.
    """
    return transition_sums(conn, scope, filters, {month_end(month_a): month_end(month_b)}, "class")


def migration_matrix(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    month_a: dt.date,
    month_b: dt.date,
    measure: Measure = "count",
) -> pd.DataFrame:
    """Class migration matrix ``month_a`` → ``month_b``; see ``analytics.provisions.migration_matrix``."""
    return pv.migration_matrix(class_transitions(conn, scope, filters, month_a, month_b), measure)


def migration_drill_down(
    conn: sa.Connection, scope: Scope, filters: Filters, cell: MigrationCell, limit: int = DRILL_LIMIT
) -> LoanList:
    """The loans behind a migration cell: columns at ``month_a`` plus ``class_next`` and ``status_next``."""
    if cell.from_state not in CLASSES or cell.to_state not in pv.MIGRATION_STATES:
        raise ValueError(f"unknown migration cell {cell.from_state!r} → {cell.to_state!r}")
    a, b = month_end(cell.month_a), month_end(cell.month_b)
    p0, p1 = P.alias("p0"), P.alias("p1")
    moved = [p0.c.as_of == a, p0.c.status == "active", p0.c.classification == cell.from_state]
    if cell.to_state == "missing":
        moved.append(p1.c.loan_id.is_(None))
    elif cell.to_state in ("closed", "written_off"):
        moved.append(p1.c.status == cell.to_state)
    else:
        moved += [p1.c.status == "active", p1.c.classification == cell.to_state]
    sub = (
        sa.select(
            p0.c.loan_id, p0.c.outstanding_principal, p0.c.dpd, p0.c.classification, p0.c.credit_score,
            p1.c.classification.label("class_next"), p1.c.status.label("status_next"),
        )
        .select_from(p0.outerjoin(p1, sa.and_(p1.c.loan_id == p0.c.loan_id, p1.c.as_of == b)))
        .where(*moved)
        .subquery("migration")
    )
    conds = book_conditions(scope, filters, table=L, active_only=False, months=False)
    return loan_list(conn, sub, conds, extra=[sub.c.class_next, sub.c.status_next], limit=limit)


def provision_table(
    conn: sa.Connection, scope: Scope, filters: Filters, month: dt.date, policy: ProvisionPolicy = DEFAULT_POLICY
) -> pd.DataFrame:
    """The benchmark provision table at ``month``; see ``analytics.provisions.provision_table``."""
    return pv.provision_table(book_aggregates(conn, scope, _month_filters(filters, month)), policy)


def provision_check(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    by: Sequence[str] = (),
    policy: ProvisionPolicy = DEFAULT_POLICY,
) -> pd.DataFrame:
    """NPL, provisions, coverage and loan provision ratio against the minimums, per month (and ``by``).

    See ``analytics.provisions.regulatory_check`` for the columns.
    """
    agg = book_aggregates(conn, scope, filters, by)
    return pv.regulatory_check(agg, policy)
