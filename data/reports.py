"""Ready-to-show results: reads from ``data.read`` combined with ``analytics`` maths.

Pages and the command line call these; they hold no SQL of their own and no maths of
their own, only the wiring of one to the other.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from analytics.kpi import DEFAULT_POLICY, ProvisionPolicy, book_kpis, rollup
from analytics.report import assemble_report
from data import read
from data.scores import psi_trend
from data.config import settings
from data.policy import get_policy, policy_values
from data.read import Filters, Scope

__all__ = ["monthly_kpis", "kpi_report"]


def monthly_kpis(
    conn: sa.Connection, scope: Scope, filters: Filters, by: tuple[str, ...] = (), policy: ProvisionPolicy = DEFAULT_POLICY
) -> pd.DataFrame:
    """Book KPIs per month (and per ``by`` dimension) in scope; see ``analytics.kpi``."""
    return book_kpis(read.book_aggregates(conn, scope, filters, by), policy)


def kpi_report(conn: sa.Connection, scope: Scope, filters: Filters, policy: ProvisionPolicy | None = None) -> dict:
    """The KPI report of metrics.md for the months selected by ``filters``.

    ``policy`` defaults to the store's (``data.policy.get_policy``): its general reserve
    rate goes into ``provisions``, its minimums into the gaps. Besides metrics.md's keys
    the report has ``provision_policy`` (``general_rate``, ``min_coverage``,
    ``min_loan_provision_ratio``, fractions) and, per month, ``coverage_gap`` and
    ``loan_provision_gap`` (money short of each minimum, 0 when met; see
    ``analytics.kpi.provision_kpis``).

    PSI is ``data.scores.psi_trend``'s (the drift page's): against the first month of the
    whole history in scope (not only the selected months) whose book has scores.
    """
    if policy is None:
        policy = get_policy(conn)
    by_region = read.book_aggregates(conn, scope, filters, by=("region_code",))
    book = book_kpis(rollup(by_region), policy)
    regions = book_kpis(by_region, policy)
    trend = psi_trend(conn, scope, filters)
    psi = trend.set_index("as_of")["psi"] if not trend.empty else pd.Series(dtype=float)
    facts = read.store_facts(conn)
    report = assemble_report(
        book,
        regions,
        psi,
        currency=facts.get("currency", settings().currency),
        region_set=facts.get("region_set"),
    )
    report["provision_policy"] = policy_values(policy)
    gaps = book.set_index("as_of")[["coverage_gap", "loan_provision_gap"]]
    for month in report["months"]:
        row = gaps.loc[dt.date.fromisoformat(month["as_of"])]
        month["coverage_gap"] = round(float(row["coverage_gap"]), 2)
        month["loan_provision_gap"] = round(float(row["loan_provision_gap"]), 2)
    return report
