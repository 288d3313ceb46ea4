"""The KPI report of metrics.md (``python -m cli report --json``), assembled from frames."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["MONTH_KEYS", "REGION_KEYS", "assemble_report"]

MONTH_KEYS: tuple[str, ...] = (
    "loans",
    "balance",
    "overdue_rate_1_balance",
    "overdue_rate_30_balance",
    "overdue_rate_90_balance",
    "overdue_rate_1_count",
    "overdue_rate_30_count",
    "overdue_rate_90_count",
    "npl_ratio",
    "provisions",
    "provision_coverage",
    "loan_provision_ratio",
)
REGION_KEYS: tuple[str, ...] = ("balance", "loans", "overdue_rate_30_balance", "npl_ratio")
_MONEY = {"balance", "provisions"}


def _value(key: str, v: object) -> object:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    if key == "loans":
        return int(v)
    if key in _MONEY:
        return round(float(v), 2)
    return float(v)


def assemble_report(
    book: pd.DataFrame, regions: pd.DataFrame, psi: pd.Series, *, currency: str, region_set: str | None
) -> dict:
    """The report as a JSON-ready dict.

    ``book``: ``analytics.kpi.book_kpis`` per month; ``regions``: the same per month and
    region_code; ``psi``: PSI per month (NaN → null). Months ordered, regions ordered by
    code; a rate whose denominator is zero is null.
    """
    by_month = {m: g for m, g in regions.groupby("as_of")} if not regions.empty else {}
    months = []
    for row in book.sort_values("as_of").to_dict("records"):
        m = row["as_of"]
        entry = {"as_of": m.isoformat()}
        entry.update({k: _value(k, row[k]) for k in MONTH_KEYS})
        entry["psi"] = _value("psi", psi.get(m, float("nan")) if psi is not None else None)
        reg = by_month.get(m)
        entry["regions"] = (
            []
            if reg is None
            else [
                {"region_code": r["region_code"], **{k: _value(k, r[k]) for k in REGION_KEYS}}
                for r in reg.sort_values("region_code").to_dict("records")
            ]
        )
        months.append(entry)
    return {"currency": currency, "region_set": region_set, "months": months}
