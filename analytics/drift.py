"""Credit-score drift: the population stability index (PSI) of metrics.md.

PSI of month m against a baseline month, both over the book: 10 bins whose 9 inner
edges are the baseline's score deciles (``numpy.quantile(baseline, [0.1, …, 0.9])``,
linear); bin i holds scores s with edge_{i-1} < s ≤ edge_i, outer bins open-ended;
repeated edges leave empty bins. E_i, A_i = share of loans in bin i at baseline and at
m, each floored at 0.0001 (not renormalised); PSI = Σ (A_i − E_i) · ln(A_i ÷ E_i).
Bands: < 0.10 stable, 0.10-0.25 shifting, > 0.25 shifted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["DECILES", "PSI_FLOOR", "psi_from_counts", "psi_band", "psi_by_month"]

DECILES: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))
PSI_FLOOR = 0.0001


def psi_from_counts(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI between two count (or share) vectors over the same bins; ``NaN`` if either is empty."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape:
        raise ValueError(f"bin counts differ in length: {e.shape} vs {a.shape}")
    if e.sum() <= 0 or a.sum() <= 0:
        return float("nan")
    e = np.maximum(e / e.sum(), PSI_FLOOR)
    a = np.maximum(a / a.sum(), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_band(value: float) -> str | None:
    """stable (< 0.10), shifting (0.10-0.25) or shifted (> 0.25); None for NaN."""
    if value is None or np.isnan(value):
        return None
    if value < 0.10:
        return "stable"
    if value <= 0.25:
        return "shifting"
    return "shifted"


def psi_by_month(bin_counts: pd.DataFrame, baseline: object, n_bins: int = 10) -> pd.Series:
    """PSI of every month against ``baseline`` from ``data.read.score_bin_counts`` output.

    ``bin_counts`` has columns as_of, bin (0..n_bins-1), loans. Returns a Series indexed by
    as_of; months without scores are NaN; the baseline's own PSI is 0.
    """
    if bin_counts.empty:
        return pd.Series(dtype=float)
    table = bin_counts.pivot_table(index="as_of", columns="bin", values="loans", aggfunc="sum", fill_value=0)
    table = table.reindex(columns=range(n_bins), fill_value=0)
    if baseline not in table.index:
        return pd.Series(np.nan, index=table.index)
    base = table.loc[baseline].to_numpy()
    return pd.Series({m: psi_from_counts(base, row.to_numpy()) for m, row in table.iterrows()})
