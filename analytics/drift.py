"""Credit-score drift: PSI, score distributions, band migration and discrimination (KS, AUC).

Definitions (``metrics.md``, "Credit-score drift"; choices the spec leaves open are marked
*chosen*):

PSI of month m against a reference month
    10 bins whose 9 inner edges are the reference month's score deciles,
    ``numpy.quantile(reference, [0.1, …, 0.9])`` (default linear method); bin i holds scores
    s with edge_{i-1} < s ≤ edge_i, the outer bins open-ended (``pandas.cut(right=True)``);
    repeated edges leave empty bins. E_i, A_i = share of loans in bin i at the reference
    month and at m, each floored at 0.0001 (:data:`PSI_FLOOR`, not renormalised);
    PSI = Σ (A_i − E_i) · ln(A_i ÷ E_i). Loans without a score are left out; the reference
    month's own PSI is 0. The reference is either a fixed baseline month or (month-on-month,
    *chosen*) the previous calendar month, with the previous month's deciles as edges; a
    month whose previous calendar month has no scored book has no month-on-month PSI (NaN).
Bands
    < 0.10 stable, 0.10-0.25 shifting, > 0.25 shifted (:func:`psi_band`).
Migration matrix (*chosen* bands)
    Score bands are left-closed intervals cut at :data:`SCORE_BAND_CUTS`
    (< 550, 550-599, 600-649, 650-699, 700-749, ≥ 750 by default). Rows: loans in the book
    at the first month with a score, by band; columns: their band at the second month, or
    where they went instead (``closed``, ``written_off``, ``unscored``: active without a
    score, ``not_reported``: no row that month). Shares are by count and each row sums to 1.
Discrimination (*chosen* population and label, see ``data.scores``)
    KS = max over thresholds of |F_bad(s) − F_good(s)|, the empirical score distributions
    of bad and good loans; AUC of −score (a lower score is riskier) = P(score_bad <
    score_good) + ½ P(tie).

Quantiles are computed from score histograms (distinct score → number of loans), which hold
the whole distribution without loss; :func:`histogram_quantiles` gives exactly
``numpy.quantile`` of the expanded scores (the same arithmetic as numpy's linear method), so
the histogram read in SQL (one ``GROUP BY as_of, credit_score``) is all PSI needs.

Units: scores are the store's integer credit scores (higher is better), shares and PSI are
fractions / pure numbers, counts are numbers of loans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from analytics.frames import require_columns

__all__ = [
    "DECILES",
    "PSI_FLOOR",
    "SCORE_BAND_CUTS",
    "EXIT_STATES",
    "psi_from_counts",
    "psi_band",
    "histogram_quantiles",
    "bin_index",
    "bin_labels",
    "binned_counts",
    "psi_table",
    "psi_trend",
    "score_distribution",
    "band_index",
    "band_labels",
    "migration_matrix",
    "ks_auc",
    "discrimination_by_month",
]

DECILES: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))
"""Probabilities of the 9 inner PSI bin edges: 0.1, 0.2, …, 0.9."""

PSI_FLOOR = 0.0001
"""Floor on each bin share E_i, A_i before the PSI sum (not renormalised)."""

SCORE_BAND_CUTS: tuple[int, ...] = (550, 600, 650, 700, 750)
"""Default score-band cut points: bands < 550, 550-599, 600-649, 650-699, 700-749, ≥ 750."""

EXIT_STATES: tuple[str, ...] = ("closed", "written_off", "unscored", "not_reported")
"""Migration-matrix columns for loans not in a band at the second month."""


# --------------------------------------------------------------------------- PSI basics


def _floored_shares(counts: np.ndarray) -> np.ndarray:
    """Row-wise shares of a (…, bins) count array, floored at PSI_FLOOR; NaN rows for empty rows."""
    c = np.asarray(counts, dtype=float)
    tot = c.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(tot > 0, c / np.where(tot > 0, tot, 1.0), np.nan)
    return np.where(np.isnan(shares), np.nan, np.maximum(shares, PSI_FLOOR))


def psi_from_counts(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI between two count (or share) vectors over the same bins; ``NaN`` if either is empty.

    Parameters
    ----------
    expected, actual : sequence of float
        Number of loans (or shares) per bin at the reference month and at month m.

    Returns
    -------
    float
        Σ (A_i − E_i) · ln(A_i ÷ E_i) with shares floored at :data:`PSI_FLOOR`.
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape:
        raise ValueError(f"bin counts differ in length: {e.shape} vs {a.shape}")
    if e.sum() <= 0 or a.sum() <= 0:
        return float("nan")
    e = np.maximum(e / e.sum(), PSI_FLOOR)
    a = np.maximum(a / a.sum(), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_band(value: float | None) -> str | None:
    """stable (< 0.10), shifting (0.10-0.25) or shifted (> 0.25); None for NaN."""
    if value is None or np.isnan(value):
        return None
    if value < 0.10:
        return "stable"
    if value <= 0.25:
        return "shifting"
    return "shifted"


def histogram_quantiles(values: np.ndarray, counts: np.ndarray, probs: Sequence[float]) -> np.ndarray | None:
    """``numpy.quantile(np.repeat(values, counts), probs)`` without expanding the histogram.

    Parameters
    ----------
    values : array
        Distinct scores, ascending.
    counts : array of int
        Number of loans at each score (> 0).
    probs : sequence of float
        Probabilities in [0, 1].

    Returns
    -------
    array or None
        The linear-method quantiles (Hyndman & Fan 7, numpy's default), computed with
        numpy's own arithmetic (virtual index (n − 1)·q, the two-sided lerp), so the
        edges are bit-for-bit numpy's; ``None`` when there are no loans.
    """
    v = np.asarray(values, dtype=float)
    c = np.asarray(counts, dtype=np.int64)
    n = int(c.sum())
    if n == 0:
        return None
    q = np.asarray(probs, dtype=float)
    virtual = (n - 1) * q
    prev = np.floor(virtual)
    gamma = virtual - prev
    prev_i = prev.astype(np.int64)
    next_i = prev_i + 1
    above = virtual >= n - 1
    prev_i[above], next_i[above] = n - 1, n - 1
    below = virtual < 0
    prev_i[below], next_i[below] = 0, 0
    cum = np.cumsum(c)
    a = v[np.searchsorted(cum, prev_i, side="right")]
    b = v[np.searchsorted(cum, next_i, side="right")]
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


def bin_index(scores: np.ndarray | pd.Series, edges: Sequence[float]) -> np.ndarray:
    """The bin (0..len(edges)) of each score: edge_{i-1} < s ≤ edge_i, outer bins open."""
    return np.searchsorted(np.asarray(edges, dtype=float), np.asarray(scores, dtype=float), side="left")


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the right-closed bins of ``edges``: ``≤ e0``, ``(e0, e1]``, …, ``> e_last``."""
    e = [f"{x:g}" for x in edges]
    if not e:
        return ["all"]
    return [f"≤ {e[0]}", *(f"({lo}, {hi}]" for lo, hi in zip(e[:-1], e[1:])), f"> {e[-1]}"]


def binned_counts(values: np.ndarray, counts: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Number of loans in each of the ``len(edges) + 1`` right-closed bins of a histogram."""
    idx = bin_index(values, edges)
    return np.bincount(idx, weights=np.asarray(counts, dtype=float), minlength=len(edges) + 1)


def _month_histograms(hist: pd.DataFrame) -> dict[object, tuple[np.ndarray, np.ndarray]]:
    require_columns(hist, ("as_of", "credit_score", "loans"), "hist")
    h = hist[hist["credit_score"].notna() & (hist["loans"] > 0)]
    if pd.api.types.is_datetime64_any_dtype(h["as_of"]):  # months as datetime.date throughout
        h = h.assign(as_of=h["as_of"].dt.date)
    h = h.sort_values(["as_of", "credit_score"])
    return {
        m: (g["credit_score"].to_numpy(dtype=float), g["loans"].to_numpy(dtype=np.int64))
        for m, g in h.groupby("as_of", sort=True)
    }


def _bounds(edges: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(edges, dtype=float)
    return np.concatenate(([-np.inf], e)), np.concatenate((e, [np.inf]))


def psi_table(
    expected: Sequence[float], actual: Sequence[float], edges: Sequence[float] | None = None
) -> pd.DataFrame:
    """PSI contribution per bin, laid out like optbinning's monitoring tables.

    Parameters
    ----------
    expected, actual : sequence of float
        Number of loans per bin at the reference month and at month m (same length).
    edges : sequence of float, optional
        The inner edges (``len(expected) - 1``) for the ``lower``/``upper`` columns.

    Returns
    -------
    DataFrame
        One row per bin: ``bin``, ``label``, ``lower`` (exclusive), ``upper`` (inclusive),
        ``expected_loans``, ``actual_loans``, ``expected_share`` and ``actual_share``
        (E_i and A_i, floored at 0.0001 as they enter the sum), ``contribution``
        ((A_i − E_i) · ln(A_i ÷ E_i)). The contributions sum to the PSI; every share and
        contribution is NaN when either side has no loans.
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape:
        raise ValueError(f"bin counts differ in length: {e.shape} vs {a.shape}")
    n = len(e)
    if edges is not None and len(edges) != n - 1:
        raise ValueError(f"{len(edges)} edges for {n} bins; expected {n - 1}")
    es, as_ = _floored_shares(e), _floored_shares(a)
    if np.isnan(es).any() or np.isnan(as_).any():
        es = np.full(n, np.nan)
        as_ = np.full(n, np.nan)
    lower, upper = _bounds(edges) if edges is not None else (np.full(n, np.nan), np.full(n, np.nan))
    return pd.DataFrame(
        {
            "bin": np.arange(n),
            "label": bin_labels(edges) if edges is not None else [str(i) for i in range(n)],
            "lower": lower,
            "upper": upper,
            "expected_loans": e,
            "actual_loans": a,
            "expected_share": es,
            "actual_share": as_,
            "contribution": (as_ - es) * np.log(as_ / es),
        }
    )


def _previous_month(months: pd.Index) -> pd.Index:
    """The previous calendar month's last day (``datetime.date``) of each month."""
    prev = (pd.PeriodIndex(pd.to_datetime(months), freq="M") - 1).to_timestamp(how="end").normalize()
    return pd.Index([d.date() for d in prev])


def psi_trend(hist: pd.DataFrame, baseline: object | None = None, probs: Sequence[float] = DECILES) -> pd.DataFrame:
    """PSI per month against a baseline month and against the previous month.

    Parameters
    ----------
    hist : DataFrame
        Score histogram of the book: ``as_of`` (month end, ``datetime.date``),
        ``credit_score``, ``loans`` (number of scored loans at that score). Rows of unscored
        loans (``credit_score`` missing) are ignored.
    baseline : month, optional
        Reference month; default the first month with scores.
    probs : sequence of float
        Probabilities of the inner edges (deciles by default, as metrics.md).

    Returns
    -------
    DataFrame
        One row per month with scores, oldest first: ``as_of``, ``loans`` (scored loans),
        ``psi`` (vs the baseline, 0 at the baseline, NaN when the baseline has no scores),
        ``psi_band``, ``psi_mom`` (vs the previous calendar month on that month's deciles,
        NaN for a month whose previous month has no scores), ``psi_mom_band``. The baseline
        month is in ``frame.attrs["baseline"]``. Empty without scores.
    """
    months = _month_histograms(hist)
    cols = ["as_of", "loans", "psi", "psi_band", "psi_mom", "psi_mom_band"]
    if not months:
        out = pd.DataFrame(columns=cols)
        out.attrs["baseline"] = None
        return out
    order = list(months)
    base = order[0] if baseline is None else baseline
    n_bins = len(probs) + 1
    if base in months:
        base_edges = histogram_quantiles(*months[base], probs)
        base_counts = binned_counts(*months[base], base_edges)
    else:
        base_edges = None
    own_edges = {m: histogram_quantiles(*vc, probs) for m, vc in months.items()}
    prev_of = dict(zip(order, _previous_month(pd.Index(order))))
    rows = []
    for m in order:  # one iteration per month (≤ a few hundred), vectorised over scores
        vals, cnt = months[m]
        psi = np.nan if base_edges is None else psi_from_counts(base_counts, binned_counts(vals, cnt, base_edges))
        p = prev_of[m]
        if p in months:
            pe = own_edges[p]
            mom = psi_from_counts(binned_counts(*months[p], pe), binned_counts(vals, cnt, pe))
        else:
            mom = np.nan
        rows.append((m, int(cnt.sum()), psi, psi_band(psi), mom, psi_band(mom)))
    out = pd.DataFrame(rows, columns=cols)
    if base_edges is not None:
        out.loc[out["as_of"] == base, "psi"] = 0.0
    out.attrs["baseline"] = base
    out.attrs["n_bins"] = n_bins
    return out


def score_distribution(
    hist: pd.DataFrame,
    month_a: object,
    month_b: object,
    *,
    edges: Sequence[float] | None = None,
    width: float | None = None,
) -> pd.DataFrame:
    """The score distribution of two months on common bins (for a chart and a PSI table).

    Parameters
    ----------
    hist : DataFrame
        ``as_of``, ``credit_score``, ``loans`` as in :func:`psi_trend`.
    month_a, month_b : month
        The reference month and the month compared with it.
    edges : sequence of float, optional
        Right-closed inner edges (edge_{i-1} < s ≤ edge_i).
    width : float, optional
        Fixed-width left-closed bins [k·width, (k+1)·width) over the scores present, e.g. 20
        for 20-point bins. Without ``edges`` and ``width``: month_a's deciles (metrics.md).

    Returns
    -------
    DataFrame
        One row per bin: ``bin``, ``label``, ``lower``, ``upper``, ``loans_a``, ``loans_b``,
        ``share_a``, ``share_b`` (unfloored shares; NaN when that month has no scores).
        Empty when neither month has scores.
    """
    if edges is not None and width is not None:
        raise ValueError("give edges or width, not both")
    months = _month_histograms(hist)
    empty = (np.array([], dtype=float), np.array([], dtype=np.int64))
    va, ca = months.get(month_a, empty)
    vb, cb = months.get(month_b, empty)
    cols = ["bin", "label", "lower", "upper", "loans_a", "loans_b", "share_a", "share_b"]
    if ca.sum() == 0 and cb.sum() == 0:
        return pd.DataFrame(columns=cols)
    if width is not None:
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        lo_all = np.floor(np.concatenate((va, vb)) / width)
        k0, k1 = int(lo_all.min()), int(lo_all.max())
        n = k1 - k0 + 1
        lower = (np.arange(n) + k0) * width
        upper = lower + width
        la = np.bincount((np.floor(va / width) - k0).astype(int), weights=ca, minlength=n)
        lb = np.bincount((np.floor(vb / width) - k0).astype(int), weights=cb, minlength=n)
        labels = [f"[{x:g}, {y:g})" for x, y in zip(lower, upper)]
    else:
        if edges is None:
            edges = histogram_quantiles(va, ca, DECILES)
            if edges is None:
                return pd.DataFrame(columns=cols)
        lower, upper = _bounds(edges)
        la, lb = binned_counts(va, ca, edges), binned_counts(vb, cb, edges)
        labels = bin_labels(edges)
    ta, tb = la.sum(), lb.sum()
    return pd.DataFrame(
        {
            "bin": np.arange(len(la)),
            "label": labels,
            "lower": lower,
            "upper": upper,
            "loans_a": la.astype(np.int64),
            "loans_b": lb.astype(np.int64),
            "share_a": la / ta if ta > 0 else np.nan,
            "share_b": lb / tb if tb > 0 else np.nan,
        }
    )


# --------------------------------------------------------------------------- migration


def band_index(scores: np.ndarray | pd.Series, cuts: Sequence[float] = SCORE_BAND_CUTS) -> np.ndarray:
    """The band (0..len(cuts)) of each score; bands are left-closed: [cut_{i-1}, cut_i)."""
    return np.searchsorted(np.asarray(cuts, dtype=float), np.asarray(scores, dtype=float), side="right")


def band_labels(cuts: Sequence[float] = SCORE_BAND_CUTS) -> list[str]:
    """Labels of the bands of ``cuts`` for integer scores: ``<550``, ``550-599``, …, ``≥750``."""
    c = list(cuts)
    if any(b <= a for a, b in zip(c[:-1], c[1:])):
        raise ValueError(f"band cuts must increase strictly: {c}")
    if not c:
        return ["all"]

    def _fmt(x: float) -> str:
        return f"{x:g}"

    mids = [f"{_fmt(a)}-{_fmt(b - 1) if float(a).is_integer() and float(b).is_integer() else _fmt(b)}" for a, b in zip(c[:-1], c[1:])]
    return [f"<{_fmt(c[0])}", *mids, f"≥{_fmt(c[-1])}"]


def migration_matrix(
    pairs: pd.DataFrame,
    cuts: Sequence[float] = SCORE_BAND_CUTS,
    *,
    shares: bool = True,
    exits: bool = True,
) -> pd.DataFrame:
    """Score-band migration between two months, by count or as row shares.

    Parameters
    ----------
    pairs : DataFrame
        Aggregated transitions: ``band_from`` (band index at the first month, 0..len(cuts)),
        ``band_to`` (band index at the second month, missing when the loan is not in a band
        then), ``state_to`` (one of :data:`EXIT_STATES` when ``band_to`` is missing; ignored
        otherwise), ``loans`` (number of loans).
    cuts : sequence of float
        Band cut points (:data:`SCORE_BAND_CUTS`).
    shares : bool
        True: each row divided by its total (rows sum to 1; NaN for a band without loans at
        the first month). False: numbers of loans.
    exits : bool
        True: the :data:`EXIT_STATES` columns are kept (every loan of a row is counted
        somewhere). False: only loans in a band at both months (a square matrix).

    Returns
    -------
    DataFrame
        Index ``band_from`` labels, columns band labels (then exit states), every band
        present even without loans.
    """
    require_columns(pairs, ("band_from", "band_to", "state_to", "loans"), "pairs")
    labels = band_labels(cuts)
    nb = len(labels)
    cols = labels + (list(EXIT_STATES) if exits else [])
    p = pairs[pairs["loans"] > 0]
    in_band = p["band_to"].notna().to_numpy()
    band_to = p["band_to"].fillna(0).astype(np.int64).to_numpy()
    to = np.where(in_band, np.asarray(labels, dtype=object)[np.clip(band_to, 0, nb - 1)], p["state_to"].to_numpy(dtype=object))
    frm = np.asarray(labels, dtype=object)[p["band_from"].astype(np.int64).to_numpy()]
    unknown = sorted({str(x) for x in to[~in_band]} - set(EXIT_STATES))
    if unknown:
        raise ValueError(f"pairs has state_to values outside {EXIT_STATES}: {unknown}")
    counts = (
        pd.DataFrame({"from": frm, "to": to, "loans": p["loans"].to_numpy(dtype=float)})
        .pivot_table(index="from", columns="to", values="loans", aggfunc="sum", fill_value=0.0)
        .reindex(index=labels, columns=cols, fill_value=0.0)
    )
    counts.index.name, counts.columns.name = "band_from", "band_to"
    if not shares:
        return counts.astype(np.int64)
    tot = counts.sum(axis=1)
    return counts.div(tot.where(tot > 0), axis=0)


# --------------------------------------------------------------------------- discrimination


def ks_auc(scores: np.ndarray, bad: np.ndarray, good: np.ndarray) -> tuple[float, float]:
    """KS and AUC of a score (lower = riskier) from counts of bad and good loans per score.

    Parameters
    ----------
    scores : array
        Scores (any order; repeated scores are added up).
    bad, good : array
        Number of bad and of good loans at each score.

    Returns
    -------
    (ks, auc)
        KS = max_s |B(≤ s)/B − G(≤ s)/G|; AUC = [Σ_s bad_s · (G(> s) + ½ good_s)] ÷ (B·G),
        the probability that a bad loan scores below a good one (ties count ½), i.e. the
        AUC of −score. Both NaN without bad or without good loans.
    """
    s = np.asarray(scores, dtype=float)
    uniq, inv = np.unique(s, return_inverse=True)  # ascending distinct scores
    b = np.bincount(inv, weights=np.asarray(bad, dtype=float), minlength=len(uniq))
    g = np.bincount(inv, weights=np.asarray(good, dtype=float), minlength=len(uniq))
    nb, ng = b.sum(), g.sum()
    if nb <= 0 or ng <= 0:
        return float("nan"), float("nan")
    cb, cg = np.cumsum(b), np.cumsum(g)
    ks = float(np.max(np.abs(cb / nb - cg / ng)))
    auc = float(np.sum(b * (ng - cg + 0.5 * g)) / (nb * ng))
    return ks, auc


def discrimination_by_month(table: pd.DataFrame) -> pd.DataFrame:
    """KS and AUC of the score per month, vectorised over months and scores.

    Parameters
    ----------
    table : DataFrame
        ``as_of``, ``credit_score``, ``bad`` (bool: the label), ``loans`` (number of loans).

    Returns
    -------
    DataFrame
        One row per month, oldest first: ``as_of``, ``loans``, ``bads``, ``bad_rate``
        (bads ÷ loans), ``ks``, ``auc`` (NaN for a month without bad or without good
        loans), as :func:`ks_auc`.
    """
    require_columns(table, ("as_of", "credit_score", "bad", "loans"), "table")
    cols = ["as_of", "loans", "bads", "bad_rate", "ks", "auc"]
    t = table[table["credit_score"].notna()]
    if t.empty:
        return pd.DataFrame(columns=cols)
    w = (
        t.assign(b=np.where(t["bad"].astype(bool), t["loans"], 0), g=np.where(t["bad"].astype(bool), 0, t["loans"]))
        .groupby(["as_of", "credit_score"], sort=True)[["b", "g"]]
        .sum()
        .reset_index()
    )
    grp = w.groupby("as_of", sort=True)
    w["nb"] = grp["b"].transform("sum")
    w["ng"] = grp["g"].transform("sum")
    w["cb"] = grp["b"].cumsum()
    w["cg"] = grp["g"].cumsum()
    with np.errstate(invalid="ignore", divide="ignore"):
        w["gap"] = np.abs(w["cb"] / w["nb"] - w["cg"] / w["ng"])
        w["auc_term"] = w["b"] * (w["ng"] - w["cg"] + 0.5 * w["g"])
    agg = w.groupby("as_of", sort=True).agg(
        bads=("b", "sum"), goods=("g", "sum"), ks=("gap", "max"), auc_num=("auc_term", "sum")
    )
    valid = (agg["bads"] > 0) & (agg["goods"] > 0)
    loans = agg["bads"] + agg["goods"]
    out = pd.DataFrame(
        {
            "as_of": agg.index,
            "loans": loans.astype(np.int64).to_numpy(),
            "bads": agg["bads"].astype(np.int64).to_numpy(),
            "bad_rate": (agg["bads"] / loans.where(loans > 0)).to_numpy(),
            "ks": agg["ks"].where(valid).to_numpy(dtype=float),
            "auc": (agg["auc_num"] / (agg["bads"] * agg["goods"]).where(valid)).to_numpy(dtype=float),
        }
    )
    return out.reset_index(drop=True)
