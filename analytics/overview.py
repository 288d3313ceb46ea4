"""The Overview page's figures from frames already aggregated in the database.

Pure functions (no database): ``data.overview`` reads the sums and passes them here, and a
page can recompute from a cached frame at once.

* :func:`group_changes` — each group's KPIs at a month and the month before, and the
  change: for the rates of :data:`MOVER_METRICS` (fractions) the difference in fraction
  points (0.012 = 1.2 percentage points), for the balance (store currency) the relative
  change ``x_m ÷ x_{m-1} − 1`` (a fraction), as ``analytics.regional.period_changes``;
* :func:`rank_movers` — the groups with the largest absolute change of one metric;
* :func:`high_alert_counts` and :func:`with_alerts` — high-level alerts per month (counts
  of alerts) beside the KPI frame, NaN for a month not evaluated;
* :func:`month_provisions` — the provision table and the regulatory check of one month
  from the KPI frame (``analytics.provisions``);
* :func:`cube_rows` and :func:`cube_sums` — the book cube of ``data.overview.book_cube``
  (loans and Σ balance per month, region, product, DPD band and class, money in integer
  cents) narrowed to a selection and summed into the columns of
  ``data.read.book_aggregates``, exactly: the sums are of integers, and each money sum
  becomes the float nearest to it, as the database's ``CAST(SUM(balance) AS DOUBLE)``.

Units: rates as fractions, money in the store's currency, counts as numbers of loans or
alerts; months are the month-end dates of ``as_of``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pandas as pd

from analytics import provisions as pv
from analytics.classification import CLASSES
from analytics.frames import require_columns
from analytics.kpi import DEFAULT_POLICY, THRESHOLDS, ProvisionPolicy, book_kpis, rollup
from analytics.regional import period_changes

__all__ = [
    "MOVER_METRICS",
    "group_changes",
    "rank_movers",
    "high_alert_counts",
    "with_alerts",
    "month_provisions",
    "CUBE_COLUMNS",
    "cube_rows",
    "cube_sums",
]

MOVER_METRICS: tuple[str, ...] = (
    "overdue_rate_30_balance",
    "overdue_rate_90_balance",
    "overdue_rate_1_balance",
    "npl_ratio",
    "balance",
)
"""Metrics :func:`group_changes` gives the change of: rates (difference, fraction points) and
the balance (relative change, ``x_m ÷ x_{m-1} − 1``), as ``analytics.regional.period_changes``."""


def group_changes(
    sums: pd.DataFrame, by: str, month: object, prev: object, policy: ProvisionPolicy = DEFAULT_POLICY
) -> pd.DataFrame:
    """Each group's KPIs at ``month``, at ``prev`` and the change between them.

    Parameters
    ----------
    sums
        ``data.read.book_aggregates`` rows of the two months (``as_of``, ``by`` and any
        other grouping columns, which are summed over: ``analytics.kpi.rollup``); money in
        the store's currency, counts of loans.
    by
        The group column (``region_code``, ``product``).
    month, prev
        The month shown and the month compared with (values of ``as_of``).
    policy
        Provisioning rates of the NPL ratio's KPI frame (``analytics.kpi.book_kpis``).

    Returns
    -------
    DataFrame
        One row per group with a book at ``month``, sorted by ``by``: ``by``, ``loans`` and,
        for each metric ``x`` of :data:`MOVER_METRICS`, ``x`` (at ``month``), ``x_prev`` (at
        ``prev``; NaN without a book then) and ``x_change`` (rates: difference in fraction
        points; balance: relative change, a fraction; NaN without a book at ``prev`` or on a
        zero base). No rows (object columns) when ``month`` has no book.
    """
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
    return out.sort_values(by).reset_index(drop=True)


def rank_movers(changes: pd.DataFrame, metric: str, top: int = 5) -> pd.DataFrame:
    """The ``top`` rows of a :func:`group_changes` frame with the largest absolute change of
    ``metric`` (fraction points for rates, a relative change for the balance).

    Groups whose change is NaN (no book the month before) are left out; ties keep the
    frame's order. ``ValueError`` for a metric not in :data:`MOVER_METRICS`.
    """
    if metric not in MOVER_METRICS:
        raise ValueError(f"metric must be one of {MOVER_METRICS}, not {metric!r}")
    col = f"{metric}_change"
    require_columns(changes, [col], "rank_movers")
    ranked = changes[changes[col].notna()]
    order = ranked[col].abs().sort_values(ascending=False, kind="stable").index
    return ranked.loc[order].head(top).reset_index(drop=True)


def high_alert_counts(counts: pd.DataFrame, months: Sequence[object]) -> pd.DataFrame:
    """High-level alerts of each of ``months``.

    ``counts`` is ``data.alerts.alert_counts`` (``as_of``, ``level``, ``alerts``: a number
    of alerts, per month, rule and level); ``months`` are the months whose alerts count
    (those evaluated at the current data and rules), in the order wanted.

    Returns
    -------
    DataFrame
        ``as_of`` and ``high_alerts`` (int64: alerts of level ``high``, 0 for a month of
        ``months`` without any), one row per month of ``months``.
    """
    if not len(months):
        return pd.DataFrame({"as_of": pd.Series(dtype=object), "high_alerts": pd.Series(dtype="int64")})
    require_columns(counts, ("as_of", "level", "alerts"), "high_alert_counts")
    counts = counts[counts["as_of"].isin(months)]
    high = counts["alerts"].where(counts["level"] == "high", 0)
    out = high.groupby(counts["as_of"]).sum().reindex(months, fill_value=0)
    return out.rename("high_alerts").rename_axis("as_of").reset_index().astype({"high_alerts": "int64"})


def with_alerts(kpis: pd.DataFrame, alerts: pd.DataFrame) -> pd.DataFrame:
    """The KPI frame (``data.reports.monthly_kpis``) with a ``high_alerts`` column.

    ``alerts`` is :func:`high_alert_counts` (``as_of``, ``high_alerts``); a month without a
    row there gets NaN (shown as "—": not evaluated), not 0. ``high_alerts`` is float64 (a
    count of alerts, NaN allowed). Sorted by month.
    """
    out = kpis.merge(alerts, on="as_of", how="left") if not kpis.empty else kpis.assign(high_alerts=np.nan)
    out["high_alerts"] = out["high_alerts"].astype("float64")
    return out.sort_values("as_of").reset_index(drop=True)


def month_provisions(
    kpis: pd.DataFrame, month: object, policy: ProvisionPolicy = DEFAULT_POLICY
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The provision table and the regulatory check of ``month`` (a value of ``as_of``).

    ``kpis`` holds the class sums of ``data.read.book_aggregates`` per month (``as_of``,
    ``balance`` and ``balance_{c}`` in the store's currency, ``loans`` and ``loans_{c}``
    counts), as ``data.reports.monthly_kpis`` does. Returns
    ``(analytics.provisions.provision_table, analytics.provisions.regulatory_check)`` of the
    month: provisions in the store's currency, ratios as fractions. A month without a book
    gives the table with zeros (and a NaN total rate) and a check without rows.
    """
    rows = kpis[kpis["as_of"] == month] if not kpis.empty else kpis
    sums = ["as_of", "balance", "loans", *(f"{k}_{c}" for c in CLASSES for k in ("balance", "loans"))]
    book = rows[sums] if not rows.empty else pd.DataFrame(columns=sums)
    check = pv.regulatory_check(book, policy) if not book.empty else pd.DataFrame()
    return pv.provision_table(book, policy), check


CUBE_COLUMNS: tuple[str, ...] = (
    "as_of", "region_code", "product", "dpd_band", "classification", "loans", "balance_cents",
)
"""Columns of a book cube (``data.overview.book_cube``): the month end, the region, the
product, ``dpd_band`` (how many of ``analytics.kpi.THRESHOLDS`` the dpd exceeds: 0 for
dpd ≤ 0 or missing, 1 for 1-30, 2 for 31-90, 3 for > 90), the stored class (missing
allowed), ``loans`` (count) and ``balance_cents`` (Σ outstanding principal in cents of the
store's currency, an integer)."""


def cube_rows(
    cube: pd.DataFrame,
    *,
    regions: Sequence[str] = (),
    products: Sequence[str] = (),
    months: Sequence[object] | None = None,
    start: object | None = None,
    end: object | None = None,
) -> pd.DataFrame:
    """The rows of a book cube in ``regions`` and ``products`` (empty: all), with ``as_of``
    in ``months`` (None: all) and within ``start``..``end`` (month ends, inclusive; None:
    open), as ``data.read.book_conditions`` selects them in the database."""
    require_columns(cube, ("as_of", "region_code", "product"), "cube_rows")
    keep = np.ones(len(cube), dtype=bool)
    if regions:
        keep &= cube["region_code"].isin(list(regions)).to_numpy()
    if products:
        keep &= cube["product"].isin(list(products)).to_numpy()
    if months is not None:
        keep &= cube["as_of"].isin(list(months)).to_numpy()
    if start is not None:
        keep &= (cube["as_of"] >= start).to_numpy(dtype=bool)
    if end is not None:
        keep &= (cube["as_of"] <= end).to_numpy(dtype=bool)
    return cube[keep] if not keep.all() else cube


def _money(cents: np.ndarray) -> np.ndarray:
    """Integer cents as floats of the currency: the float nearest to cents ÷ 100 (an int64
    below 2**53 converts exactly and one IEEE division rounds correctly; larger sums go
    through ``Decimal``), the value ``CAST(SUM(x) AS DOUBLE)`` gives for the exact sum."""
    out = cents / 100.0
    big = np.abs(cents) >= 2**53
    if big.any():
        out[big] = [float(Decimal(int(c)).scaleb(-2)) for c in cents[big]]
    return out


def cube_sums(cube: pd.DataFrame, by: Sequence[str] = (), thresholds: Sequence[int] = THRESHOLDS) -> pd.DataFrame:
    """The ``data.read.book_aggregates`` frame per month (and per ``by``) from book-cube rows.

    Parameters
    ----------
    cube
        Rows of a book cube (:data:`CUBE_COLUMNS`), e.g. :func:`cube_rows`' selection.
    by
        Grouping columns besides ``as_of`` (``region_code``, ``product``).
    thresholds
        The k of "dpd > k", in the order of the cube's DPD bands.

    Returns
    -------
    DataFrame
        ``as_of``, the ``by`` columns, ``loans``, ``balance``, ``loans_dpd_gt_k`` and
        ``balance_dpd_gt_k`` for each k, ``loans_<class>`` and ``balance_<class>`` for each
        class (counts int64, money float in the store's currency, each the float nearest to
        the exact sum); sorted by month then ``by``. No rows (object columns) for an empty
        cube.
    """
    keys = ["as_of", *by]
    sums = ["loans", "balance"]
    for k in thresholds:
        sums += [f"loans_dpd_gt_{k}", f"balance_dpd_gt_{k}"]
    for c in CLASSES:
        sums += [f"loans_{c}", f"balance_{c}"]
    if cube.empty:
        return pd.DataFrame(columns=[*keys, *sums])
    require_columns(cube, [*keys, "dpd_band", "classification", "loans", "balance_cents"], "cube_sums")
    loans = cube["loans"].to_numpy(dtype=np.int64)
    cents = cube["balance_cents"].to_numpy(dtype=np.int64)
    band = cube["dpd_band"].to_numpy(dtype=np.int64)
    cls = cube["classification"].to_numpy(dtype=object)
    parts: dict[str, np.ndarray] = {k: cube[k].to_numpy() for k in keys}
    parts |= {"loans": loans, "balance": cents}
    for i, k in enumerate(thresholds, start=1):
        hit = band >= i
        parts[f"loans_dpd_gt_{k}"] = np.where(hit, loans, 0)
        parts[f"balance_dpd_gt_{k}"] = np.where(hit, cents, 0)
    for c in CLASSES:
        hit = cls == c
        parts[f"loans_{c}"] = np.where(hit, loans, 0)
        parts[f"balance_{c}"] = np.where(hit, cents, 0)
    out = pd.DataFrame(parts).groupby(keys, as_index=False, sort=True, dropna=False)[sums].sum()
    for col in sums:
        if col.startswith("balance"):
            out[col] = _money(out[col].to_numpy(dtype=np.int64))
    return out.reset_index(drop=True)
