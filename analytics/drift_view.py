"""One month of credit-score drift against a baseline, from one score histogram.

The Score drift page (评分迁移) reads the score histogram of the whole history once
(``data.scores.score_histogram``, cached by the app) and derives everything that depends
on the baseline month, the comparison month, the trend window and the bins here, in pure
pandas/numpy on the small histogram (a few milliseconds), so changing the baseline or the
bins does not read the store again.

Definitions are ``analytics.drift``'s (metrics.md, "Credit-score drift"): PSI on the
reference month's deciles (E_i, A_i floored at 0.0001), bands < 0.10 stable, 0.10-0.25
shifting, > 0.25 shifted; month-on-month PSI against the previous calendar month on that
month's deciles. Units: PSI is a pure number, shares are fractions, counts are loans.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics import drift
from analytics.frames import require_columns

__all__ = ["DriftView", "drift_view", "scored_months", "migration_view"]


@dataclass(frozen=True)
class DriftView:
    """Drift of ``month`` against ``baseline``.

    Attributes
    ----------
    baseline, month : date or None
        The reference and the comparison month (month ends); None without scores.
    months : list of date
        Every month of the history with scored loans, oldest first.
    trend : DataFrame
        ``analytics.drift.psi_trend`` against ``baseline`` for the months of the window:
        ``as_of``, ``loans``, ``psi``, ``psi_band``, ``psi_mom``, ``psi_mom_band``.
    point : dict
        The comparison month's ``psi``, ``psi_band``, ``psi_mom``, ``psi_mom_band``,
        ``loans`` (scored loans at the month) and ``baseline_loans``; NaN / None where
        undefined (a month without scores).
    distribution : DataFrame
        ``analytics.drift.score_distribution`` of baseline (``*_a``) and month (``*_b``) on
        the chosen bins.
    contributions : DataFrame
        ``analytics.drift.psi_table``: the PSI of the month bin by bin on the baseline's
        deciles; its ``contribution`` sums to ``point["psi"]``. Empty without scores.
    """

    baseline: dt.date | None
    month: dt.date | None
    months: list[dt.date] = field(default_factory=list)
    trend: pd.DataFrame = field(default_factory=pd.DataFrame)
    point: dict = field(default_factory=dict)
    distribution: pd.DataFrame = field(default_factory=pd.DataFrame)
    contributions: pd.DataFrame = field(default_factory=pd.DataFrame)


def _as_dates(hist: pd.DataFrame) -> pd.DataFrame:
    require_columns(hist, ("as_of", "credit_score", "loans"), "hist")
    h = hist[hist["credit_score"].notna()]
    if pd.api.types.is_datetime64_any_dtype(h["as_of"]):
        h = h.assign(as_of=h["as_of"].dt.date)
    return h


def scored_months(hist: pd.DataFrame) -> list[dt.date]:
    """The months of ``hist`` (``data.scores.score_histogram``) with scored loans, oldest first."""
    h = _as_dates(hist)
    return sorted(set(h.loc[h["loans"] > 0, "as_of"]))


def _counts(h: pd.DataFrame, month: dt.date) -> tuple[np.ndarray, np.ndarray]:
    g = h[h["as_of"] == month].sort_values("credit_score")
    return g["credit_score"].to_numpy(dtype=float), g["loans"].to_numpy(dtype=np.int64)


def drift_view(
    hist: pd.DataFrame,
    baseline: dt.date | None,
    month: dt.date | None,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    width: float | None = None,
) -> DriftView:
    """The drift of ``month`` against ``baseline`` from a score histogram.

    Parameters
    ----------
    hist : DataFrame
        ``as_of`` (month end), ``credit_score``, ``loans``: the scored book's histogram over
        the history (``data.scores.score_histogram`` without a month filter).
    baseline : date, optional
        The baseline month end; default the first month with scores.
    month : date, optional
        The comparison month end; default the last month with scores.
    start, end : date, optional
        The trend window (inclusive month ends); the trend keeps the months inside it.
    width : float, optional
        Fixed-width score bins for the distribution (e.g. 20); default the baseline's
        deciles, the PSI's own bins.
    """
    h = _as_dates(hist)
    months = scored_months(h)
    if not months:
        empty = drift.psi_trend(h.iloc[0:0])
        return DriftView(None, month, [], empty, {}, pd.DataFrame(), pd.DataFrame())
    base = baseline if baseline is not None else months[0]
    m = month if month is not None else months[-1]
    trend = drift.psi_trend(h, base)
    keep = pd.Series(True, index=trend.index)
    if start is not None:
        keep &= trend["as_of"] >= start
    if end is not None:
        keep &= trend["as_of"] <= end
    window = trend[keep].reset_index(drop=True)
    window.attrs.update(trend.attrs)

    row = trend[trend["as_of"] == m]
    b_vals, b_cnt = _counts(h, base)
    m_vals, m_cnt = _counts(h, m)
    point = {
        "psi": float(row["psi"].iloc[0]) if len(row) else float("nan"),
        "psi_band": row["psi_band"].iloc[0] if len(row) else None,
        "psi_mom": float(row["psi_mom"].iloc[0]) if len(row) else float("nan"),
        "psi_mom_band": row["psi_mom_band"].iloc[0] if len(row) else None,
        "loans": int(m_cnt.sum()),
        "baseline_loans": int(b_cnt.sum()),
    }
    distribution = drift.score_distribution(h, base, m, width=width)
    edges = drift.histogram_quantiles(b_vals, b_cnt, drift.DECILES)
    if edges is None or m_cnt.sum() == 0:
        contributions = drift.psi_table([0.0], [0.0]).iloc[0:0]
    else:
        contributions = drift.psi_table(
            drift.binned_counts(b_vals, b_cnt, edges), drift.binned_counts(m_vals, m_cnt, edges), edges
        )
    return DriftView(base, m, months, window, point, distribution, contributions)


def migration_view(
    pairs: pd.DataFrame, cuts: tuple[float, ...] = drift.SCORE_BAND_CUTS
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The band migration as row shares and counts, and a summary.

    Parameters
    ----------
    pairs : DataFrame
        ``data.scores.migration_pairs``: ``band_from``, ``band_to``, ``state_to``, ``loans``.

    Returns
    -------
    (shares, counts, summary)
        ``analytics.drift.migration_matrix`` with ``shares=True`` and with ``shares=False``
        (exits kept), and ``summary``: the share of the first month's scored loans that
        moved to a lower band (``down``: a lower score band, riskier), stayed (``same``),
        moved up (``up``) or left the scored book (``exit``), and ``loans`` (their number).
        Shares are NaN without loans.
    """
    p = pairs.copy()
    p["state_to"] = p["state_to"].where(p["state_to"] != "in_band", None)
    shares = drift.migration_matrix(p, cuts, shares=True, exits=True)
    counts = drift.migration_matrix(p, cuts, shares=False, exits=True)
    n = counts.to_numpy(dtype=float)
    nb = len(cuts) + 1
    total = n.sum()
    band = n[:, :nb]
    i, j = np.indices(band.shape)
    moved = {"down": band[j < i].sum(), "same": band[j == i].sum(), "up": band[j > i].sum(), "exit": n[:, nb:].sum()}
    summary = {k: (v / total if total > 0 else float("nan")) for k, v in moved.items()}
    summary["loans"] = int(total)
    return shares, counts, summary
