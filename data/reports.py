"""Ready-to-show results: reads from ``data.read`` combined with ``analytics`` maths.

Pages and the command line call these; they hold no SQL of their own and no maths of
their own, only the wiring of one to the other.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from analytics.drift import DECILES, psi_by_month
from analytics.kpi import DEFAULT_POLICY, ProvisionPolicy, book_kpis
from analytics.report import assemble_report
from data import read
from data.config import settings
from data.read import Filters, Scope

__all__ = ["monthly_kpis", "psi_series", "kpi_report"]


def monthly_kpis(
    conn: sa.Connection, scope: Scope, filters: Filters, by: tuple[str, ...] = (), policy: ProvisionPolicy = DEFAULT_POLICY
) -> pd.DataFrame:
    """Book KPIs per month (and per ``by`` dimension) in scope; see ``analytics.kpi``."""
    return book_kpis(read.book_aggregates(conn, scope, filters, by), policy)


def psi_series(conn: sa.Connection, scope: Scope, filters: Filters) -> tuple[object, pd.Series]:
    """(baseline month, PSI per month) with the baseline the first month whose book has scores.

    Returns ``(None, empty)`` without scores. Edges are the baseline's deciles, computed
    in SQL over the baseline book.
    """
    months = read.stored_months(conn, scope, filters)
    for m in months:
        edges = read.score_quantiles(conn, scope, filters, m, DECILES)
        if edges is not None:
            counts = read.score_bin_counts(conn, scope, filters, edges)
            return m, psi_by_month(counts, m, n_bins=len(edges) + 1)
    return None, pd.Series(dtype=float)


def kpi_report(conn: sa.Connection, scope: Scope, filters: Filters, policy: ProvisionPolicy = DEFAULT_POLICY) -> dict:
    """The KPI report of metrics.md for the months selected by ``filters``.

    PSI is taken against the first month (of the whole history in scope, not only the
    selected months) whose book has scores.
    """
    book = monthly_kpis(conn, scope, filters, policy=policy)
    regions = monthly_kpis(conn, scope, filters, by=("region_code",), policy=policy)
    history = Filters(regions=filters.regions, products=filters.products, segments=filters.segments)
    _, psi = psi_series(conn, scope, history)
    facts = read.store_facts(conn)
    return assemble_report(
        book,
        regions,
        psi,
        currency=facts.get("currency", settings().currency),
        region_set=facts.get("region_set"),
    )
