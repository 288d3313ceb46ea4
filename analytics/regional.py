"""Regional risk: per region (or branch) KPIs at a month, their changes and a risk rank.

Definitions (``metrics.md``, "Regional risk"; choices the spec leaves open are marked
*chosen*):

* balance, loans, overdue rates (1+/30+/90+ DPD by balance and by count), NPL ratio and the
  benchmark provisions are those of ``analytics.kpi.book_kpis`` per group;
* collateral coverage = Σ latest collateral value ÷ Σ balance over collateralised loans.
  *Chosen*: a loan is collateralised at month m when its collateral type is not ``none``
  or ``guarantee`` (a guarantee is not a pledge; a missing type counts as collateral when a
  value is given) and its latest collateral value is > 0; the latest value is the month's
  ``performance.collateral_value``, else the value at origination. NaN without
  collateralised balance;
* expected loss: the ECL of ``data.credit`` by group when available (a column of NaN
  otherwise; never estimated here);
* changes (*chosen*): against the previous calendar month (``_mom``) and the same month a
  year earlier (``_yoy``); for rates (fractions) the difference in fraction points
  (0.012 = 1.2 percentage points), for money and counts the relative change
  (x_m ÷ x_then − 1). NaN when the group has no book then, or the base is 0;
* rank (*chosen*): 1 = worst, by ``rank_by`` (default the 30+ DPD overdue rate by
  balance); for metrics where higher is better (coverage ratios) the lowest is worst.
  Ties share the best (lowest) rank; groups with a missing metric get no rank.

Units: money in the store's currency, rates as fractions, counts as numbers of loans.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics.frames import require_columns
from analytics.kpi import safe_ratio

__all__ = [
    "RATE_METRICS",
    "LEVEL_METRICS",
    "HIGHER_IS_BETTER",
    "DEFAULT_RANK_BY",
    "collateral_coverage",
    "period_changes",
    "risk_rank",
    "risk_table",
    "rank_rows",
]

RATE_METRICS: tuple[str, ...] = (
    "overdue_rate_1_balance",
    "overdue_rate_30_balance",
    "overdue_rate_90_balance",
    "overdue_rate_1_count",
    "overdue_rate_30_count",
    "overdue_rate_90_count",
    "npl_ratio",
    "collateral_coverage",
)
"""Ratios whose change is a difference (fraction points)."""

LEVEL_METRICS: tuple[str, ...] = ("balance", "loans", "npl_balance", "provisions", "expected_loss")
"""Money and counts whose change is relative (x_m ÷ x_then − 1)."""

HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {"collateral_coverage", "provision_coverage", "loan_provision_ratio"}
)
"""Metrics for which the lowest value ranks worst."""

DEFAULT_RANK_BY = "overdue_rate_30_balance"


def collateral_coverage(frame: pd.DataFrame) -> pd.Series:
    """Σ latest collateral value ÷ Σ balance over collateralised loans, per row.

    Parameters
    ----------
    frame : DataFrame
        ``collateral_value`` (Σ latest collateral value of the collateralised loans) and
        ``collateralised_balance`` (their Σ balance), both in the store's currency.

    Returns
    -------
    Series
        The coverage (a ratio, 1.25 = collateral worth 125 % of the balance); NaN where
        the collateralised balance is 0.
    """
    require_columns(frame, ("collateral_value", "collateralised_balance"), "collateral_coverage")
    return safe_ratio(frame["collateral_value"], frame["collateralised_balance"])


def period_changes(
    current: pd.DataFrame,
    then: pd.DataFrame,
    key: str,
    suffix: str,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Changes of each metric between ``then`` and ``current``, per ``key``.

    Parameters
    ----------
    current, then : DataFrame
        One row per ``key`` value with the metric columns (``then`` may be empty).
    key : str
        The group column (``region_code``, ``branch_id``).
    suffix : str
        Appended to each metric's name (``mom``, ``yoy``).
    metrics : sequence of str, optional
        Default: every column of :data:`RATE_METRICS` and :data:`LEVEL_METRICS` present
        in ``current``.

    Returns
    -------
    DataFrame
        Indexed like ``current`` (same row order), columns ``<metric>_<suffix>``: rates as
        differences, levels as relative changes; NaN without a row in ``then`` or a zero
        base.
    """
    require_columns(current, (key,), "current")
    if metrics is None:
        metrics = [m for m in (*RATE_METRICS, *LEVEL_METRICS) if m in current.columns]
    require_columns(current, metrics, "current")
    base = then.set_index(key) if key in then.columns else pd.DataFrame(index=pd.Index([], name=key))
    base = base[~base.index.duplicated()] if len(base) else base
    aligned = base.reindex(current[key].to_numpy())
    out = pd.DataFrame(index=current.index)
    for m in metrics:
        now = current[m].astype(float).to_numpy()
        old = aligned[m].astype(float).to_numpy() if m in aligned.columns else np.full(len(current), np.nan)
        if m in LEVEL_METRICS:
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                chg = np.where(old != 0, now / np.where(old != 0, old, 1.0) - 1.0, np.nan)
            chg = np.where(np.isnan(old), np.nan, chg)
        else:
            chg = now - old
        out[f"{m}_{suffix}"] = chg
    return out


def risk_rank(values: pd.Series, higher_is_worse: bool = True) -> pd.Series:
    """Rank 1 = worst (ties share the lowest rank, missing values get none), as Int64."""
    return values.astype(float).rank(ascending=not higher_is_worse, method="min", na_option="keep").astype("Int64")


def risk_table(
    kpis: pd.DataFrame,
    key: str,
    as_of: object,
    *,
    previous: object | None = None,
    year_ago: object | None = None,
    rank_by: str = DEFAULT_RANK_BY,
) -> pd.DataFrame:
    """The risk table of one month: each group's KPIs, changes and rank.

    Parameters
    ----------
    kpis : DataFrame
        One row per (``as_of``, ``key``) with the KPI columns (``book_kpis`` output plus
        ``collateral_coverage`` and ``expected_loss`` when available), for the month and
        its comparison months.
    key : str
        Group column (``region_code`` or ``branch_id``).
    as_of, previous, year_ago : month values of ``kpis["as_of"]``
        The month shown and the months it is compared with (None: no comparison, NaN).
    rank_by : str
        Metric ranked (1 = worst); see :data:`HIGHER_IS_BETTER`.

    Returns
    -------
    DataFrame
        Rows of ``as_of`` sorted by rank (unranked last) then ``key``, with the KPI columns,
        ``<metric>_mom`` and ``<metric>_yoy`` for :data:`RATE_METRICS` and
        :data:`LEVEL_METRICS`, and ``rank``. Empty when the month has no book.
    """
    require_columns(kpis, ("as_of", key, rank_by), "kpis")
    cur = kpis[kpis["as_of"] == as_of].reset_index(drop=True)
    empty = kpis.iloc[0:0]
    prev = kpis[kpis["as_of"] == previous] if previous is not None else empty
    yago = kpis[kpis["as_of"] == year_ago] if year_ago is not None else empty
    out = pd.concat(
        [cur, period_changes(cur, prev, key, "mom"), period_changes(cur, yago, key, "yoy")], axis=1
    )
    out.attrs.update(as_of=as_of, previous=previous, year_ago=year_ago, rank_by=rank_by)
    return rank_rows(out, key, rank_by)


def rank_rows(table: pd.DataFrame, key: str, rank_by: str = DEFAULT_RANK_BY) -> pd.DataFrame:
    """``table``'s rows ranked among themselves by ``rank_by`` (1 = worst, see
    :func:`risk_rank` and :data:`HIGHER_IS_BETTER`) in a ``rank`` column and sorted by rank
    (unranked last) then ``key``; ``attrs`` kept. A :func:`risk_table` narrowed to some of
    its groups gets the table those groups alone would give: every other column is the
    group's own."""
    out = table.copy()
    out["rank"] = risk_rank(out[rank_by], higher_is_worse=rank_by not in HIGHER_IS_BETTER)
    out = out.sort_values(["rank", key], na_position="last", kind="stable").reset_index(drop=True)
    out.attrs.update(table.attrs)
    return out
