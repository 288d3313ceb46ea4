"""Delinquency maths of metrics.md: DPD buckets, roll rates, cure rate and vintage curves.

Pure pandas / numpy on frames that ``data.delinquency`` aggregates in the database; no
SQL, no streamlit. Rates are fractions (``NaN`` where the denominator is 0), money is in
the store's currency, dpd in whole days.

Definitions (metrics.md, and the choices this module makes where it is silent):

* **DPD buckets**: current (dpd = 0), 1-30, 31-60, 61-90, 91-180, 181-360, 361+.
* **Overdue rate** at k = 0, 30, 90 ("1+", "30+", "90+ DPD"): see
  :func:`analytics.kpi.overdue_rates` (re-exported here).
* **Roll rate** a → b, month m-1 → m: among loans active in bucket a at m-1, the share (by
  count, and by balance at m-1) in state b at m. The states at m are the seven buckets
  (the loan is active at m), ``closed`` and ``written_off`` (its status at m), and
  ``missing``: the loan has no row at all at m (the tape did not report it). ``missing``
  is shown rather than dropped so that every row sums to 1 and a gap in the tape is
  visible. A row (bucket a) with no loans (or no balance) at m-1 is ``NaN``.
* **Cure rate** at m: among loans active with dpd > 0 at m-1, the share (by count, and by
  balance at m-1) that are active with dpd = 0 at m. A loan that closed or was written off
  at m is not cured; a loan missing at m is not cured (it stays in the denominator).
* **Vintage**: cohort = disbursement month (labelled by its last day); MOB = months from
  the disbursement month to the as_of month (0 in the disbursement month).

  - 30+ by balance at MOB k = Σ balance of the cohort's *active* loans with dpd > 30 at
    MOB k ÷ Σ principal of the cohort. ``NaN`` when the cohort has no performance row (of
    any status) at MOB k — a month the tape did not cover is unknown, not 0.
  - Cumulative default by count at MOB k = number of cohort loans that were ever > 90 DPD
    or written off at MOB ≤ k ÷ number of cohort loans. Carried forward across a MOB with
    no rows, but only from the cohort's first to its last observed MOB; before the first
    observed MOB (a cohort disbursed before the tape starts) it is ``NaN``.
  - Each cohort's curve runs from MOB 0 to its last observed MOB; rows with a negative MOB
    (a row dated before disbursement) are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from analytics.frames import require_columns
from analytics.kpi import THRESHOLDS, overdue_rates, safe_ratio

__all__ = [
    "DPD_BUCKETS",
    "BUCKET_UPPER_DPD",
    "TERMINAL_STATES",
    "ROLL_STATES",
    "FORWARD_ROLLS",
    "BUCKET_LABELS",
    "STATE_LABELS",
    "METRIC_LABELS",
    "DEFINITIONS",
    "THRESHOLDS",
    "Measure",
    "dpd_bucket",
    "overdue_rates",
    "bucket_distribution",
    "transition_matrix",
    "roll_matrix",
    "roll_trend",
    "cure_rate",
    "vintage_curves",
]

Measure = Literal["count", "balance"]
"""Weight of a share: number of loans, or balance (money)."""

DPD_BUCKETS: tuple[str, ...] = ("current", "1-30", "31-60", "61-90", "91-180", "181-360", "361+")
"""DPD buckets of metrics.md, best to worst."""

BUCKET_UPPER_DPD: tuple[int, ...] = (0, 30, 60, 90, 180, 360)
"""Inclusive upper dpd of every bucket but the last (361+ is open-ended)."""

TERMINAL_STATES: tuple[str, ...] = ("closed", "written_off", "missing")
"""States at m of a loan that is not active at m: its status, or no row at all."""

ROLL_STATES: tuple[str, ...] = DPD_BUCKETS + TERMINAL_STATES
"""Columns of a roll-rate matrix, in display order."""

FORWARD_ROLLS: tuple[tuple[str, str], ...] = tuple(zip(DPD_BUCKETS[:-1], DPD_BUCKETS[1:]))
"""The roll-forward pairs of the roll-rate trend: current→1-30, 1-30→31-60, … 181-360→361+."""

BUCKET_LABELS: dict[str, str] = {
    "current": "Current 未逾期",
    "1-30": "1-30 DPD 逾期1-30天",
    "31-60": "31-60 DPD 逾期31-60天",
    "61-90": "61-90 DPD 逾期61-90天",
    "91-180": "91-180 DPD 逾期91-180天",
    "181-360": "181-360 DPD 逾期181-360天",
    "361+": "361+ DPD 逾期360天以上",
}
"""Display label (English and 中文) of each DPD bucket."""

STATE_LABELS: dict[str, str] = {
    **BUCKET_LABELS,
    "closed": "Closed 已结清",
    "written_off": "Written off 已核销",
    "missing": "Not reported 未报送",
}
"""Display label of each roll-rate state."""

METRIC_LABELS: dict[str, str] = {
    "overdue_rate_1_balance": "1+ DPD rate, by balance 逾期率（1天以上，按余额）",
    "overdue_rate_30_balance": "30+ DPD rate, by balance 逾期率（30天以上，按余额）",
    "overdue_rate_90_balance": "90+ DPD rate, by balance 逾期率（90天以上，按余额）",
    "overdue_rate_1_count": "1+ DPD rate, by count 逾期率（1天以上，按户数）",
    "overdue_rate_30_count": "30+ DPD rate, by count 逾期率（30天以上，按户数）",
    "overdue_rate_90_count": "90+ DPD rate, by count 逾期率（90天以上，按户数）",
    "share_count": "Share of loans 户数占比",
    "share_balance": "Share of balance 余额占比",
    "roll_rate": "Roll rate 迁徙率",
    "cure_rate_count": "Cure rate, by count 逾期治愈率（按户数）",
    "cure_rate_balance": "Cure rate, by balance 逾期治愈率（按余额）",
    "vintage_30_balance": "Vintage 30+ by balance 账龄30天以上逾期率（按余额）",
    "cum_default_count": "Cumulative default by count 累计违约率（按户数）",
    "mob": "Months on book 账龄（月）",
    "cohort": "Disbursement cohort 放款批次（月）",
}
"""Display label (English and 中文) of each delinquency metric and axis."""

DEFINITIONS: dict[str, dict[str, str]] = {
    "dpd_bucket": {
        "en": "Days past due at month end, grouped: current (0), 1-30, 31-60, 61-90, 91-180, 181-360, 361+.",
        "zh": "月末逾期天数分段：未逾期(0)、1-30、31-60、61-90、91-180、181-360、360天以上。",
    },
    "overdue_rate_balance": {
        "en": "Balance of active loans with dpd > k ÷ total balance (k = 0, 30, 90 for 1+, 30+, 90+).",
        "zh": "逾期超过k天的贷款余额 ÷ 贷款总余额（k = 0、30、90）。",
    },
    "overdue_rate_count": {
        "en": "Number of active loans with dpd > k ÷ number of active loans (k = 0, 30, 90).",
        "zh": "逾期超过k天的贷款笔数 ÷ 贷款总笔数（k = 0、30、90）。",
    },
    "roll_rate": {
        "en": "Of loans active in bucket a at m-1, the share (by count or by balance at m-1) in state b at m; "
        "closed, written off and not reported at m are states of their own, so each row sums to 1.",
        "zh": "上月处于a段的在贷贷款中，本月处于b状态的占比（按笔数或按上月余额）；结清、核销、未报送单列，每行合计为1。",
    },
    "cure_rate": {
        "en": "Of loans active with dpd > 0 at m-1, the share (by count or by balance at m-1) active with dpd = 0 at m.",
        "zh": "上月逾期（dpd > 0）的在贷贷款中，本月仍在贷且逾期天数为0的占比（按笔数或按上月余额）。",
    },
    "vintage_30_balance": {
        "en": "Balance of the cohort's active loans with dpd > 30 at MOB k ÷ principal disbursed in the cohort; "
        "blank where the cohort has no data at MOB k.",
        "zh": "放款批次在账龄k月时逾期30天以上的余额 ÷ 该批次放款本金；该月无数据时留空。",
    },
    "cum_default_count": {
        "en": "Share of the cohort's loans ever > 90 DPD or written off at or before MOB k.",
        "zh": "放款批次中在账龄k月及之前曾逾期90天以上或已核销的贷款笔数占比。",
    },
}
"""Help text of each delinquency metric: one line in English (``en``) and Chinese (``zh``)."""

_UPPER = np.asarray(BUCKET_UPPER_DPD)
_BUCKET_ARR = np.asarray(DPD_BUCKETS, dtype=object)
_MEASURE_COL = {"count": "loans", "balance": "balance"}


def _measure_column(measure: str) -> str:
    if measure not in _MEASURE_COL:
        raise ValueError(f"measure must be 'count' or 'balance', not {measure!r}")
    return _MEASURE_COL[measure]


def dpd_bucket(dpd: pd.Series | np.ndarray | Sequence[int]) -> np.ndarray:
    """The DPD bucket key of each dpd (whole days, >= 0), as an object array."""
    return _BUCKET_ARR[np.searchsorted(_UPPER, np.asarray(dpd, dtype=np.int64), side="left")]


def _check_states(values: pd.Series, allowed: Sequence[str], what: str) -> None:
    bad = sorted(set(values.dropna().unique()) - set(allowed))
    if bad:
        raise ValueError(f"{what}: unknown state(s) {bad}; expected {list(allowed)}")


def bucket_distribution(counts: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Loans and balance per DPD bucket per month (and ``by`` group), with shares.

    Parameters
    ----------
    counts
        Columns ``as_of``, the ``by`` columns, ``bucket`` (a key of ``DPD_BUCKETS``),
        ``loans`` (count of active loans) and ``balance`` (their Σ balance, money); a
        bucket without loans may be absent.
    by
        Grouping columns besides ``as_of``.

    Returns
    -------
    DataFrame
        ``as_of``, ``by``…, ``bucket``, ``loans``, ``balance``, ``share_count`` (loans ÷
        loans of the group) and ``share_balance`` (balance ÷ balance of the group; NaN
        for a group with zero balance). Every group has all seven buckets (absent ones
        with 0), in bucket order; groups sorted.
    """
    keys = ["as_of", *by]
    require_columns(counts, [*keys, "bucket", "loans", "balance"], "bucket counts")
    _check_states(counts["bucket"], DPD_BUCKETS, "bucket counts")
    cols = [*keys, "bucket", "loans", "balance", "share_count", "share_balance"]
    if counts.empty:
        return pd.DataFrame(columns=cols)
    summed = counts.groupby([*keys, "bucket"], dropna=False, sort=False)[["loans", "balance"]].sum().reset_index()
    groups = summed[keys].drop_duplicates()
    grid = groups.merge(pd.DataFrame({"bucket": DPD_BUCKETS}), how="cross")
    out = grid.merge(summed, on=[*keys, "bucket"], how="left")
    out["loans"] = out["loans"].fillna(0).astype("int64")
    out["balance"] = out["balance"].fillna(0.0).astype("float64")
    totals = out.groupby(keys, dropna=False, sort=False)[["loans", "balance"]].transform("sum")
    out["share_count"] = safe_ratio(out["loans"], totals["loans"])
    out["share_balance"] = safe_ratio(out["balance"], totals["balance"])
    out["_order"] = out["bucket"].map({b: i for i, b in enumerate(DPD_BUCKETS)})
    out = out.sort_values([*keys, "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
    return out[cols]


def transition_matrix(
    transitions: pd.DataFrame,
    from_states: Sequence[str],
    to_states: Sequence[str],
    measure: Measure = "count",
) -> pd.DataFrame:
    """Row-normalised transition matrix from a frame of transition sums of one period.

    Parameters
    ----------
    transitions
        Columns ``from_state``, ``to_state``, ``loans`` (count) and ``balance`` (balance at
        the start of the period, money); one row per pair that occurs.
    from_states, to_states
        All row and column states, in display order (absent ones get 0 / NaN).
    measure
        ``"count"`` (share of loans) or ``"balance"`` (share of start balance).

    Returns
    -------
    DataFrame
        Index ``from_state`` (``from_states``), columns ``to_states``: the share of row
        state's loans (or balance) that moved to each column state. Each row sums to 1, or
        is all ``NaN`` when the row state has no loans (zero balance for ``"balance"``).
    """
    col = _measure_column(measure)
    require_columns(transitions, ["from_state", "to_state", "loans", "balance"], "transitions")
    _check_states(transitions["from_state"], from_states, "transitions from_state")
    _check_states(transitions["to_state"], to_states, "transitions to_state")
    sums = (
        transitions.pivot_table(index="from_state", columns="to_state", values=col, aggfunc="sum", fill_value=0)
        if not transitions.empty
        else pd.DataFrame()
    )
    sums = sums.reindex(index=list(from_states), columns=list(to_states), fill_value=0).astype("float64")
    total = sums.sum(axis=1)
    out = sums.div(total.where(total != 0), axis=0)
    out.index.name = "from_state"
    out.columns.name = "to_state"
    return out


def _one_month(transitions: pd.DataFrame, month: object | None) -> pd.DataFrame:
    if "as_of" not in transitions.columns:
        return transitions
    if month is not None:
        return transitions[transitions["as_of"] == month]
    months = transitions["as_of"].unique()
    if len(months) > 1:
        raise ValueError(f"transitions hold {len(months)} months; pass month= to pick one")
    return transitions


def roll_matrix(transitions: pd.DataFrame, measure: Measure = "count", month: object | None = None) -> pd.DataFrame:
    """The roll-rate matrix m-1 → m (metrics.md), by count or by balance at m-1.

    Parameters
    ----------
    transitions
        Columns ``from_state`` (DPD bucket at m-1 of a loan active at m-1), ``to_state``
        (its bucket at m if active, else ``closed`` / ``written_off`` / ``missing``),
        ``loans`` and ``balance`` (Σ balance at m-1), optionally ``as_of`` (m).
    measure
        ``"count"`` or ``"balance"``.
    month
        The month m to take when ``transitions`` holds several.

    Returns
    -------
    DataFrame
        Index the seven buckets, columns ``ROLL_STATES`` (buckets, closed, written_off,
        missing); each row sums to 1, or is NaN when the bucket held nothing at m-1.
    """
    return transition_matrix(_one_month(transitions, month), DPD_BUCKETS, ROLL_STATES, measure)


def _month_totals(transitions: pd.DataFrame) -> pd.DataFrame:
    return transitions.groupby(["as_of", "from_state"], as_index=False)[["loans", "balance"]].sum()


def roll_trend(transitions: pd.DataFrame) -> pd.DataFrame:
    """The roll-forward rates per month: current→1-30, 1-30→31-60, …, 181-360→361+.

    Parameters
    ----------
    transitions
        As for :func:`roll_matrix`, with ``as_of`` (month m) for any number of months.

    Returns
    -------
    DataFrame
        ``as_of``, ``from_state``, ``to_state`` (one row per month and pair of
        ``FORWARD_ROLLS``), ``loans_from`` and ``balance_from`` (loans and balance in
        ``from_state`` at m-1), ``rate_count`` and ``rate_balance`` (share of them, by count
        and by balance at m-1, in ``to_state`` at m; NaN when nothing was in ``from_state``).
        Sorted by month, then roll order.
    """
    require_columns(transitions, ["as_of", "from_state", "to_state", "loans", "balance"], "transitions")
    cols = ["as_of", "from_state", "to_state", "loans_from", "balance_from", "rate_count", "rate_balance"]
    if transitions.empty:
        return pd.DataFrame(columns=cols)
    pairs = pd.DataFrame(FORWARD_ROLLS, columns=["from_state", "to_state"]).reset_index(names="_order")
    grid = pd.DataFrame({"as_of": transitions["as_of"].drop_duplicates()}).merge(pairs, how="cross")
    totals = _month_totals(transitions).rename(columns={"loans": "loans_from", "balance": "balance_from"})
    moved = transitions.groupby(["as_of", "from_state", "to_state"], as_index=False)[["loans", "balance"]].sum()
    out = grid.merge(totals, on=["as_of", "from_state"], how="left").merge(
        moved, on=["as_of", "from_state", "to_state"], how="left"
    )
    out[["loans_from", "loans"]] = out[["loans_from", "loans"]].fillna(0).astype("int64")
    out[["balance_from", "balance"]] = out[["balance_from", "balance"]].fillna(0.0).astype("float64")
    out["rate_count"] = safe_ratio(out["loans"], out["loans_from"])
    out["rate_balance"] = safe_ratio(out["balance"], out["balance_from"])
    out = out.sort_values(["as_of", "_order"], kind="stable").reset_index(drop=True)
    return out[cols]


def cure_rate(transitions: pd.DataFrame) -> pd.DataFrame:
    """Cure rate per month: delinquent loans at m-1 that are active and current at m.

    Definition: among loans active with dpd > 0 at m-1, the share (by count, and by balance
    at m-1) that are active with dpd = 0 at m. Closed, written off and missing at m are not
    cured and stay in the denominator.

    Parameters
    ----------
    transitions
        As for :func:`roll_trend`.

    Returns
    -------
    DataFrame
        ``as_of`` (m), ``loans_delinquent``, ``balance_delinquent`` (active with dpd > 0 at
        m-1; balance at m-1), ``loans_cured``, ``balance_cured``, ``cure_rate_count`` and
        ``cure_rate_balance`` (fractions; NaN in a month with no delinquent loan at m-1).
    """
    require_columns(transitions, ["as_of", "from_state", "to_state", "loans", "balance"], "transitions")
    cols = [
        "as_of", "loans_delinquent", "balance_delinquent", "loans_cured", "balance_cured",
        "cure_rate_count", "cure_rate_balance",
    ]
    if transitions.empty:
        return pd.DataFrame(columns=cols)
    t = transitions.assign(
        _delinquent=transitions["from_state"] != "current",
    )
    t["_cured"] = t["_delinquent"] & (t["to_state"] == "current")
    w = pd.DataFrame({
        "as_of": t["as_of"],
        "loans_delinquent": t["loans"].where(t["_delinquent"], 0),
        "balance_delinquent": t["balance"].astype("float64").where(t["_delinquent"], 0.0),
        "loans_cured": t["loans"].where(t["_cured"], 0),
        "balance_cured": t["balance"].astype("float64").where(t["_cured"], 0.0),
    })
    out = w.groupby("as_of", as_index=False).sum().sort_values("as_of").reset_index(drop=True)
    out[["loans_delinquent", "loans_cured"]] = out[["loans_delinquent", "loans_cured"]].astype("int64")
    out["cure_rate_count"] = safe_ratio(out["loans_cured"], out["loans_delinquent"])
    out["cure_rate_balance"] = safe_ratio(out["balance_cured"], out["balance_delinquent"])
    return out[cols]


def vintage_curves(cohorts: pd.DataFrame, observed: pd.DataFrame, first_default: pd.DataFrame) -> pd.DataFrame:
    """Vintage 30+ by balance and cumulative default by count, per cohort and MOB.

    Parameters
    ----------
    cohorts
        One row per cohort: ``cohort`` (any sortable label, e.g. the disbursement month's
        last day), ``loans`` (number of loans disbursed in it) and ``principal`` (their Σ
        principal, money).
    observed
        One row per cohort and MOB where the cohort has performance rows: ``cohort``,
        ``mob`` (int), ``rows`` (number of its performance rows at that MOB, any status)
        and ``balance_dpd_gt_30`` (Σ balance of its active loans with dpd > 30, money).
    first_default
        ``cohort``, ``mob`` and ``loans``: the number of the cohort's loans whose first
        month > 90 DPD or written off is that MOB.

    Returns
    -------
    DataFrame
        ``cohort``, ``mob`` (0 to the cohort's last observed MOB), ``loans``,
        ``principal``, ``balance_dpd_gt_30`` (NaN where unobserved), ``vintage_30_balance``
        (= balance_dpd_gt_30 ÷ principal; NaN where the cohort has no row at that MOB),
        ``defaulted_loans`` (cumulative) and ``cum_default_count`` (= defaulted_loans ÷
        loans; carried forward through unobserved MOBs, NaN before the first observed
        MOB). Sorted by cohort, MOB. Cohorts without any observed row are left out.
    """
    require_columns(cohorts, ["cohort", "loans", "principal"], "vintage cohorts")
    require_columns(observed, ["cohort", "mob", "rows", "balance_dpd_gt_30"], "vintage observations")
    require_columns(first_default, ["cohort", "mob", "loans"], "vintage first defaults")
    cols = [
        "cohort", "mob", "loans", "principal", "balance_dpd_gt_30", "vintage_30_balance",
        "defaulted_loans", "cum_default_count",
    ]
    obs = observed[(observed["mob"] >= 0) & (observed["rows"] > 0)]
    obs = obs.groupby(["cohort", "mob"], as_index=False)[["rows", "balance_dpd_gt_30"]].sum()
    if obs.empty or cohorts.empty:
        return pd.DataFrame(columns=cols)
    span = obs.groupby("cohort")["mob"].agg(first_mob="min", last_mob="max").reset_index()
    span = span.merge(cohorts[["cohort", "loans", "principal"]], on="cohort", how="inner")
    if span.empty:
        return pd.DataFrame(columns=cols)
    lengths = span["last_mob"].to_numpy(dtype=np.int64) + 1
    grid = span.loc[span.index.repeat(lengths)].reset_index(drop=True)
    grid["mob"] = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    grid = grid.merge(obs, on=["cohort", "mob"], how="left")
    fd = first_default[first_default["mob"] >= 0].groupby(["cohort", "mob"], as_index=False)["loans"].sum()
    grid = grid.merge(fd.rename(columns={"loans": "_new_defaults"}), on=["cohort", "mob"], how="left")
    grid = grid.sort_values(["cohort", "mob"], kind="stable").reset_index(drop=True)
    seen = grid["rows"].notna()
    grid["balance_dpd_gt_30"] = grid["balance_dpd_gt_30"].astype("float64").where(seen)
    grid["vintage_30_balance"] = safe_ratio(grid["balance_dpd_gt_30"], grid["principal"]).where(seen)
    cum = grid["_new_defaults"].astype("float64").fillna(0.0).groupby(grid["cohort"], sort=False).cumsum()
    started = grid["mob"] >= grid["first_mob"]
    grid["defaulted_loans"] = cum.where(started)
    grid["cum_default_count"] = safe_ratio(cum, grid["loans"]).where(started)
    grid["loans"] = grid["loans"].astype("int64")
    grid["principal"] = grid["principal"].astype("float64")
    return grid[cols]
