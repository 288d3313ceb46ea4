"""Customer lifetime value (CLV) and value segments (metrics.md, "Customer lifetime value").

Definition
----------
For each loan in the book at month m, over its remaining months t = 1..T::

    CLV_loan = Σ_t S_t · (interest_t − funding_t − servicing_t − PD_m · LGD · EAD_t) ÷ (1 + d)^t

and a customer's CLV is the sum over the customer's loans. The conventions the spec leaves
open are fixed here:

* **Discounting.** d is the monthly rate equivalent to the annual discount rate
  (default 8 %): d = (1 + 0.08)^(1/12) − 1 ≈ 0.0064340. Month t's cash flow is discounted
  by (1 + d)^t: it falls at the end of month t.
* **Default.** PD_m = 1 − (1 − PD12)^(1/12), the constant monthly default probability
  that compounds to the 12-month PD (PD12 clipped to [0, 1]).
* **Survival.** S_t = (1 − PD_m)^(t−1): the probability that the loan reaches the start
  of month t without having defaulted (S_1 = 1). A loan alive at the start of month t
  earns that month's interest and carries its funding and servicing cost, and defaults
  during it with probability PD_m, losing LGD · EAD_t; S_t · PD_m is the probability of
  defaulting in month t.
* **Balance.** balance_t is the balance outstanding during month t (balance_1 = the
  balance at m). Amortising loans repay as an annuity over the remaining term at their
  contract rate: balance_t = B · (1 − w^(T−t+1)) ÷ (1 − w^T), w = 1 ÷ (1 + r/12) (linear,
  balance_t = B · (T − t + 1) ÷ T, when r/12 < 1e-9). Revolving products
  (``credit_card`` by default) keep a flat balance, balance_t = B. EAD_t = balance_t.
* **Term.** T = remaining whole months from m's month to the maturity month, at least 1
  (a loan past maturity but still active is taken to repay in the next month). A
  revolving product past its stated term (or without one) is taken to renew:
  T = ``revolving_horizon_months`` (default 36).
* **Costs.** interest_t = balance_t · r ÷ 12, funding_t = balance_t · 2.5 % ÷ 12,
  servicing_t = balance_t · 0.5 % ÷ 12 (annual rates, fractions; configurable).
* **LGD.** Fixed per loan at m, and the same as the ECL's: ``analytics.ecl.lgd`` with
  ``ClvParams.lgd`` (an ``EclConfig``) — unsecured loans a default LGD by product (45 %
  unsecured retail), collateralised loans max(0, B − C · (1 − haircut)) ÷ B floored at
  10 %, with C the latest collateral value and B the balance at m; one LGD definition for
  the whole app, so CLV's expected loss and the ECL page agree.

Because every term is balance_t times a per-loan constant, CLV = PV_bal · [(r − f − s) ÷ 12
− PD_m · LGD] with PV_bal = Σ_t balance_t · (1 − PD_m)^(t−1) ÷ (1 + d)^t, which has a closed
form (sums of geometric series): no loop over months, O(1) per loan. With
y = (1 − PD_m) ÷ (1 + d) and G(x, T) = Σ_{k=0}^{T−1} x^k = (1 − x^T) ÷ (1 − x):

* flat: PV_bal = B · G(y, T) ÷ (1 + d);
* annuity: PV_bal = B · [G(y, T) − w^T · G(y · (1 + i), T)] ÷ [(1 + d) · (1 − w^T)], i = r/12;
* linear: PV_bal = B · [T · G(y, T) − H(y, T)] ÷ [T · (1 + d)], H(y, T) = Σ_{k=0}^{T−1} k · y^k.

:func:`loan_cash_flows` lays the same sum out month by month (for a page that shows a
schedule, and as the reference the tests check the closed form against).

Segments
--------
k-means on standardised customer features (:data:`SEGMENT_FEATURES`): CLV, balance,
tenure, products held, worst DPD in the last 12 months, score trend over 6 months. Money
features (CLV, balance) are first put on a signed log scale, sign(x) · ln(1 + |x|), so a
few very large customers do not make a segment of their own; then every feature is
standardised to z = (x − mean) ÷ std over the customers (std 0 → z = 0; a missing score
trend counts as no change, 0). k is chosen in 3..8 by the best silhouette (ties to the
smaller k), measured on a deterministic sample of at most 20,000 customers; k-means is
fitted (3 initialisations) on a deterministic sample of at most 50,000 customers (all of them when fewer) and
every customer is assigned to the nearest centroid. Segments are numbered by mean CLV,
highest first. Names and suggested actions follow rules on the centroid's z-scores,
documented in :func:`name_segment`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analytics.ecl import DEFAULT_ECL, EclConfig
from analytics.ecl import lgd as ecl_lgd
from analytics.frames import require_columns

if TYPE_CHECKING:  # scikit-learn is imported by the k-means step only (about 1 s of import)
    from sklearn.cluster import KMeans

__all__ = [
    "ClvParams",
    "DEFAULT_CLV_PARAMS",
    "SegmentParams",
    "DEFAULT_SEGMENT_PARAMS",
    "SegmentResult",
    "LOAN_COLUMNS",
    "SEGMENT_FEATURES",
    "monthly_pd",
    "loan_lgd",
    "loan_clv",
    "loan_cash_flows",
    "customer_clv",
    "standardise_features",
    "choose_k",
    "name_segment",
    "segment_customers",
]

LOAN_COLUMNS: tuple[str, ...] = (
    "loan_id",
    "customer_id",
    "product",
    "balance",
    "interest_rate",
    "remaining_months",
    "pd_12m",
    "lgd",
)
"""Input columns of :func:`loan_clv`: ``balance`` (store currency, at m), ``interest_rate``
(annual fraction), ``remaining_months`` (whole months from m to maturity), ``pd_12m``
(fraction), ``lgd`` (fraction; see :func:`loan_lgd`)."""

SEGMENT_FEATURES: tuple[str, ...] = (
    "clv",
    "balance",
    "tenure_months",
    "products_held",
    "worst_dpd_12m",
    "score_trend_6m",
)
"""Customer features the segmentation clusters on."""

_MONEY_FEATURES = ("clv", "balance")
_LINEAR_RATE_EPS = 1e-9


@dataclass(frozen=True)
class ClvParams:
    """CLV parameters; annual rates are fractions, defaults are metrics.md's.

    Attributes
    ----------
    annual_discount_rate : float
        Annual discount rate (0.08); the monthly rate is ``(1 + it)^(1/12) − 1``.
    funding_cost_rate, servicing_cost_rate : float
        Annual costs as fractions of the balance (0.025 and 0.005).
    lgd : EclConfig
        The LGD parameters, shared with the ECL (``analytics.ecl.DEFAULT_ECL``).
    revolving_products : tuple of str
        Products with a flat balance and the revolving horizon (``credit_card``).
    revolving_horizon_months : int
        T for a revolving loan past its stated maturity (36).
    """

    annual_discount_rate: float = 0.08
    funding_cost_rate: float = 0.025
    servicing_cost_rate: float = 0.005
    lgd: EclConfig = DEFAULT_ECL
    revolving_products: tuple[str, ...] = ("credit_card",)
    revolving_horizon_months: int = 36

    def __post_init__(self) -> None:
        if self.annual_discount_rate <= -1:
            raise ValueError(f"annual_discount_rate {self.annual_discount_rate} must be > -1")
        if self.revolving_horizon_months < 1:
            raise ValueError("revolving_horizon_months must be at least 1")

    @property
    def monthly_discount_rate(self) -> float:
        """d = (1 + annual)^(1/12) − 1 (≈ 0.0064340 for 8 %)."""
        return float((1.0 + self.annual_discount_rate) ** (1.0 / 12.0) - 1.0)


DEFAULT_CLV_PARAMS = ClvParams()


@dataclass(frozen=True)
class SegmentParams:
    """Segmentation parameters.

    ``k_range`` is inclusive; ``silhouette_sample`` and ``fit_sample`` bound the customers
    used to score and to fit (drawn with ``random_state``, so results are deterministic).
    """

    k_range: tuple[int, int] = (3, 8)
    silhouette_sample: int = 20_000
    fit_sample: int = 50_000
    random_state: int = 42
    n_init: int = 3

    def __post_init__(self) -> None:
        lo, hi = self.k_range
        if not 2 <= lo <= hi:
            raise ValueError(f"k_range {self.k_range} must satisfy 2 <= low <= high")


DEFAULT_SEGMENT_PARAMS = SegmentParams()


@dataclass(frozen=True)
class SegmentResult:
    """The outcome of :func:`segment_customers`.

    Attributes
    ----------
    customers : DataFrame
        The input features plus ``segment`` (int, 0 = highest mean CLV), ``segment_name``
        and ``action``, one row per customer.
    profiles : DataFrame
        One row per segment: ``segment``, ``segment_name``, ``action``, ``customers``, the
        mean of each raw feature (``mean_<feature>``) and the centroid's z-score
        (``z_<feature>``).
    k : int
        Number of segments.
    silhouette : dict
        Silhouette score for every k tried (empty when too few customers to try any).
    """

    customers: pd.DataFrame
    profiles: pd.DataFrame
    k: int
    silhouette: dict[int, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- CLV


def monthly_pd(pd_12m: pd.Series | np.ndarray | float) -> np.ndarray:
    """PD_m = 1 − (1 − PD12)^(1/12), PD12 clipped to [0, 1] (a fraction; NaN stays NaN)."""
    p = np.clip(np.asarray(pd_12m, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        out = -np.expm1(np.log1p(-p) / 12.0)
    return out if p.ndim else float(out)


def loan_lgd(frame: pd.DataFrame, params: ClvParams = DEFAULT_CLV_PARAMS) -> pd.Series:
    """LGD per loan (fraction): ``analytics.ecl.lgd`` with ``params.lgd``, no shock.

    Parameters
    ----------
    frame : DataFrame
        ``balance`` and ``collateral_value`` (latest valuation; missing = none), store
        currency; ``collateral_type`` and ``product`` (loan-tape keys).
    """
    require_columns(frame, ("balance", "collateral_value", "collateral_type", "product"), "loan_lgd input")
    values = ecl_lgd(frame["balance"], frame["collateral_value"], frame["collateral_type"], frame["product"], params.lgd)
    return pd.Series(values, index=frame.index, name="lgd")


_SERIES_AN = 0.01
"""Below this |a|·n (x = e^−a), the sums below use their power series in a: the closed forms
divide by (1 − x) or (1 − x)² and lose digits there (a monthly PD of 5e-9 over 247 months
was off by 8e-7 relative)."""


def _power_sums(n: np.ndarray) -> tuple[np.ndarray, ...]:
    """Σ_{k=0}^{n−1} k^p for p = 1..4 (floats)."""
    m = n.astype(float) - 1.0
    s1 = m * (m + 1.0) / 2.0
    s2 = m * (m + 1.0) * (2.0 * m + 1.0) / 6.0
    s4 = m * (m + 1.0) * (2.0 * m + 1.0) * (3.0 * m * m + 3.0 * m - 1.0) / 30.0
    return s1, s2, s1 * s1, s4


def _geometric(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """G(x, n) = Σ_{k=0}^{n−1} x^k, x ≥ 0, n ≥ 1 (n where x = 1)."""
    nf = n.astype(float)
    s1, s2, s3, _ = _power_sums(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = -np.log(x)
        g = (1.0 - np.power(x, n)) / (1.0 - x)
        series = nf - a * s1 + a * a / 2.0 * s2 - a ** 3 / 6.0 * s3  # Σ e^(−ak), to a³
        return np.where(np.abs(a) * nf < _SERIES_AN, series, g)


def _arith_geometric(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """H(x, n) = Σ_{k=0}^{n−1} k · x^k, x ≥ 0, n ≥ 1 (n(n−1)/2 where x = 1)."""
    nf = n.astype(float)
    s1, s2, s3, s4 = _power_sums(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = -np.log(x)
        h = x * (1.0 - nf * np.power(x, nf - 1.0) + (nf - 1.0) * np.power(x, nf)) / (1.0 - x) ** 2
        series = s1 - a * s2 + a * a / 2.0 * s3 - a ** 3 / 6.0 * s4  # Σ k e^(−ak), to a³
        return np.where(np.abs(a) * nf < _SERIES_AN, series, h)


def _terms(frame: pd.DataFrame, params: ClvParams) -> tuple[np.ndarray, np.ndarray]:
    """(T per loan, revolving flag)."""
    revolving = frame["product"].isin(params.revolving_products).to_numpy()
    remaining = pd.to_numeric(frame["remaining_months"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    term = np.where(revolving & (remaining < 1), params.revolving_horizon_months, np.maximum(remaining, 1))
    return term.astype(np.int64), revolving


def _pv_balance(
    balance: np.ndarray, rate: np.ndarray, term: np.ndarray, revolving: np.ndarray, pd_m: np.ndarray, d: float
) -> np.ndarray:
    """PV_bal = Σ_{t=1}^{T} balance_t · (1 − PD_m)^(t−1) ÷ (1 + d)^t, in closed form."""
    v = 1.0 / (1.0 + d)
    y = (1.0 - pd_m) * v
    g_y = _geometric(y, term)
    i = rate / 12.0
    amortising = ~revolving & (i >= _LINEAR_RATE_EPS)
    linear = ~revolving & ~amortising
    out = np.where(revolving, g_y, 0.0)
    if amortising.any():
        ia, ta, ya = i[amortising], term[amortising], y[amortising]
        wt = np.exp(-ta * np.log1p(ia))  # w^T
        one_minus_wt = -np.expm1(-ta * np.log1p(ia))
        out[amortising] = (g_y[amortising] - wt * _geometric(ya * (1.0 + ia), ta)) / one_minus_wt
    if linear.any():
        tl, yl = term[linear], y[linear]
        out[linear] = (tl * g_y[linear] - _arith_geometric(yl, tl)) / tl
    return balance * v * out


def loan_clv(loans: pd.DataFrame, params: ClvParams = DEFAULT_CLV_PARAMS) -> pd.DataFrame:
    """CLV of each loan, with its present-value components (module docstring for the sum).

    Parameters
    ----------
    loans : DataFrame
        One row per loan in the book at m, columns :data:`LOAN_COLUMNS`. A missing
        ``pd_12m`` gives a NaN CLV for that loan.
    params : ClvParams

    Returns
    -------
    DataFrame
        ``loan_id``, ``customer_id``, ``term_months`` (T used), ``pd_monthly`` (PD_m),
        ``pv_balance`` (Σ S_t · balance_t ÷ (1 + d)^t), ``pv_interest``, ``pv_funding``,
        ``pv_servicing``, ``pv_expected_loss`` and ``clv`` = pv_interest − pv_funding −
        pv_servicing − pv_expected_loss; money in the store's currency.
    """
    require_columns(loans, LOAN_COLUMNS, "loan_clv input")
    cols = [
        "loan_id", "customer_id", "term_months", "pd_monthly", "pv_balance",
        "pv_interest", "pv_funding", "pv_servicing", "pv_expected_loss", "clv",
    ]
    if loans.empty:
        return pd.DataFrame({c: pd.Series(dtype=float if c not in ("loan_id", "customer_id") else object) for c in cols})
    term, revolving = _terms(loans, params)
    pd_m = monthly_pd(loans["pd_12m"].to_numpy(dtype=float))
    bal = loans["balance"].to_numpy(dtype=float)
    rate = loans["interest_rate"].to_numpy(dtype=float)
    lgd = loans["lgd"].to_numpy(dtype=float)
    pv = _pv_balance(bal, rate, term, revolving, pd_m, params.monthly_discount_rate)
    out = pd.DataFrame({
        "loan_id": loans["loan_id"].to_numpy(),
        "customer_id": loans["customer_id"].to_numpy(),
        "term_months": term,
        "pd_monthly": pd_m,
        "pv_balance": pv,
        "pv_interest": pv * rate / 12.0,
        "pv_funding": pv * params.funding_cost_rate / 12.0,
        "pv_servicing": pv * params.servicing_cost_rate / 12.0,
        "pv_expected_loss": pv * pd_m * lgd,
    }, index=loans.index)
    out["clv"] = out["pv_interest"] - out["pv_funding"] - out["pv_servicing"] - out["pv_expected_loss"]
    return out


def loan_cash_flows(loans: pd.DataFrame, params: ClvParams = DEFAULT_CLV_PARAMS) -> pd.DataFrame:
    """The CLV sum laid out month by month, one row per loan and month t = 1..T.

    Meant for a few loans (a customer's schedule); :func:`loan_clv` is the fast path and
    gives the same totals. Columns: ``loan_id``, ``t``, ``balance`` (balance_t),
    ``survival`` (S_t), ``discount`` (1 ÷ (1 + d)^t), ``interest``, ``funding``,
    ``servicing``, ``expected_loss`` (PD_m · LGD · balance_t), ``pv`` (the discounted,
    survival-weighted net of the four).
    """
    require_columns(loans, LOAN_COLUMNS, "loan_cash_flows input")
    if loans.empty:
        return pd.DataFrame(columns=["loan_id", "t", "balance", "survival", "discount", "interest",
                                     "funding", "servicing", "expected_loss", "pv"])
    term, revolving = _terms(loans, params)
    n = term.sum()
    idx = np.repeat(np.arange(len(loans)), term)
    t = np.arange(n) - np.repeat(np.cumsum(term) - term, term) + 1
    tt, tl = t.astype(float), term[idx].astype(float)
    bal0 = loans["balance"].to_numpy(dtype=float)[idx]
    i = loans["interest_rate"].to_numpy(dtype=float)[idx] / 12.0
    with np.errstate(divide="ignore", invalid="ignore"):
        annuity = bal0 * -np.expm1(-(tl - tt + 1) * np.log1p(i)) / -np.expm1(-tl * np.log1p(i))
    linear = bal0 * (tl - tt + 1) / tl
    balance = np.where(revolving[idx], bal0, np.where(i >= _LINEAR_RATE_EPS, annuity, linear))
    pd_m = monthly_pd(loans["pd_12m"].to_numpy(dtype=float))[idx]
    survival = np.power(1.0 - pd_m, tt - 1.0)
    discount = (1.0 + params.monthly_discount_rate) ** -tt
    frame = pd.DataFrame({
        "loan_id": loans["loan_id"].to_numpy()[idx],
        "t": t,
        "balance": balance,
        "survival": survival,
        "discount": discount,
        "interest": balance * i,
        "funding": balance * params.funding_cost_rate / 12.0,
        "servicing": balance * params.servicing_cost_rate / 12.0,
        "expected_loss": pd_m * loans["lgd"].to_numpy(dtype=float)[idx] * balance,
    })
    net = frame["interest"] - frame["funding"] - frame["servicing"] - frame["expected_loss"]
    frame["pv"] = survival * net * discount
    return frame


def customer_clv(loan_values: pd.DataFrame) -> pd.DataFrame:
    """Per customer: ``clv`` (Σ of the loans' CLV) and ``loans`` (count), from :func:`loan_clv`.

    A customer with a loan of NaN CLV gets NaN (``min_count``: the sum is not hidden).
    """
    require_columns(loan_values, ("customer_id", "clv"), "customer_clv input")
    g = loan_values.groupby("customer_id", sort=True)["clv"]
    out = pd.DataFrame({"clv": g.sum(min_count=1), "loans": g.size()})
    has_nan = loan_values["clv"].isna().groupby(loan_values["customer_id"]).any()
    out.loc[has_nan.reindex(out.index).to_numpy(), "clv"] = np.nan
    return out.reset_index()


# --------------------------------------------------------------------- segments


def standardise_features(features: pd.DataFrame) -> pd.DataFrame:
    """z-scores of :data:`SEGMENT_FEATURES` (money on a signed log scale first).

    Money (``clv``, ``balance``) → sign(x) · ln(1 + |x|); a missing ``score_trend_6m`` → 0
    (no change); other missing values → the column mean. Then z = (x − mean) ÷ std
    (population std, ddof 0); a column with std 0 is all zeros. Same index as ``features``.
    """
    require_columns(features, SEGMENT_FEATURES, "segmentation features")
    x = features[list(SEGMENT_FEATURES)].astype(float).copy()
    for c in _MONEY_FEATURES:
        x[c] = np.sign(x[c]) * np.log1p(np.abs(x[c]))
    x["score_trend_6m"] = x["score_trend_6m"].fillna(0.0)
    x = x.fillna(x.mean()).fillna(0.0)
    mean = x.mean()
    std = x.std(ddof=0)
    z = (x - mean) / std.where(std > 0)
    return z.fillna(0.0)


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _mean_silhouettes(x: np.ndarray, labellings: list[np.ndarray], chunk: int = 1024) -> list[float]:
    """Mean silhouette (Euclidean) of each labelling of the rows of ``x``, in one pass.

    The same value as ``sklearn.metrics.silhouette_score(x, labels)`` (a point alone in
    its cluster scores 0), but the pairwise distances are computed once, chunk by chunk,
    and shared by every labelling: per chunk, the distance sums to each cluster of every
    labelling come from one matrix product with the stacked one-hot cluster indicators.
    A labelling with fewer than two clusters gives NaN.
    """
    n = len(x)
    codes = [np.unique(lab, return_inverse=True)[1] for lab in labellings]
    ks = [int(c.max()) + 1 for c in codes]
    offsets = np.concatenate([[0], np.cumsum(ks)])
    onehot = np.zeros((n, offsets[-1]))
    for c, off in zip(codes, offsets[:-1]):
        onehot[np.arange(n), off + c] = 1.0
    counts = onehot.sum(axis=0)
    sq = np.einsum("ij,ij->i", x, x)
    totals = np.zeros(len(codes))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        d2 = sq[start:stop, None] + sq[None, :] - 2.0 * (x[start:stop] @ x.T)
        np.maximum(d2, 0.0, out=d2)
        d2[np.arange(stop - start), np.arange(start, stop)] = 0.0
        sums = np.sqrt(d2, out=d2) @ onehot
        rows = np.arange(stop - start)
        for j, (c, off, k) in enumerate(zip(codes, offsets[:-1], ks)):
            if k < 2:
                continue
            own = c[start:stop]
            s_k = sums[:, off:off + k]
            n_k = counts[off:off + k]
            own_n = n_k[own]
            with np.errstate(divide="ignore", invalid="ignore"):
                a = s_k[rows, own] / (own_n - 1.0)
                mean_other = s_k / n_k
            mean_other[rows, own] = np.inf
            b = mean_other.min(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                sil = (b - a) / np.maximum(a, b)
            totals[j] += np.nansum(np.where(own_n > 1, sil, 0.0))
    return [float(t / n) if k >= 2 else float("nan") for t, k in zip(totals, ks)]


def choose_k(
    z: np.ndarray, params: SegmentParams = DEFAULT_SEGMENT_PARAMS
) -> tuple[int, dict[int, float], dict[int, KMeans]]:
    """Pick k in ``params.k_range`` by the best mean silhouette (ties → smaller k).

    k-means (``random_state``, ``n_init``) is fitted on a deterministic sample of at most
    ``fit_sample`` rows; the silhouette is measured on a deterministic sample of at most
    ``silhouette_sample`` rows, labelled by the fitted model. k values needing more
    clusters than distinct points are skipped.

    Returns
    -------
    (k, scores, models)
        The chosen k (1 when no k could be tried), the silhouette of every k tried, and
        the fitted models.
    """
    from sklearn.cluster import KMeans  # here, not at the top: a page showing cached segments never loads it
    from threadpoolctl import threadpool_limits

    n = len(z)
    lo, hi = params.k_range
    if n == 0:
        return 1, {}, {}
    distinct = len(np.unique(z, axis=0))
    fit_idx = _sample(n, params.fit_sample, params.random_state)
    sil_idx = _sample(n, params.silhouette_sample, params.random_state + 1)
    x_fit, x_sil = z[fit_idx], z[sil_idx]
    fitted: dict[int, KMeans] = {}
    for k in range(lo, hi + 1):
        if k >= min(distinct, len(x_sil)) or k > len(x_fit):
            break
        # one thread: on a small sample OpenMP start-up and spinning cost more than they
        # save, badly so on a busy machine (measured 0.8 s vs 4.7-7.8 s for k = 8)
        with threadpool_limits(limits=1, user_api="openmp"):
            fitted[k] = KMeans(n_clusters=k, n_init=params.n_init, random_state=params.random_state).fit(x_fit)
    sil = _mean_silhouettes(x_sil, [km.predict(x_sil) for km in fitted.values()]) if fitted else []
    scores = {k: s for k, s in zip(fitted, sil) if not np.isnan(s)}
    models = {k: fitted[k] for k in scores}
    if not scores:
        return 1, {}, {}
    best = max(scores, key=lambda k: (round(scores[k], 12), -k))
    return best, scores, models


def name_segment(centroid_z: Mapping[str, float]) -> tuple[str, str]:
    """A plain name and a suggested action from a centroid's z-scores.

    Rules, in order (z = the centroid's standardised feature):

    * value: ``high value`` if z_clv ≥ 0.5, ``low value`` if z_clv ≤ −0.5, else
      ``mid value``;
    * risk: ``delinquent`` if z_worst_dpd_12m ≥ 1.0; else ``rising risk`` if
      z_score_trend_6m ≤ −0.5 (scores falling) or z_worst_dpd_12m ≥ 0.5; else ``low risk``;
    * name = "<value>, <risk>";
    * action: delinquent → ``collect``; rising risk → ``watch``; low risk and high value →
      ``retain with a rate offer``; low risk otherwise → ``cross-sell``.
    """
    zc = float(centroid_z.get("clv", 0.0))
    zd = float(centroid_z.get("worst_dpd_12m", 0.0))
    zt = float(centroid_z.get("score_trend_6m", 0.0))
    value = "high value" if zc >= 0.5 else "low value" if zc <= -0.5 else "mid value"
    if zd >= 1.0:
        risk, action = "delinquent", "collect"
    elif zt <= -0.5 or zd >= 0.5:
        risk, action = "rising risk", "watch"
    else:
        risk = "low risk"
        action = "retain with a rate offer" if value == "high value" else "cross-sell"
    return f"{value}, {risk}", action


_QUALIFIERS = {
    "balance": ("large balance", "small balance"),
    "tenure_months": ("long tenure", "new"),
    "products_held": ("multi-product", "single product"),
}


def _distinct_names(names: list[str], centroids: pd.DataFrame) -> list[str]:
    """Make equal names distinct: add the qualifier of the feature (balance, tenure,
    products) where the centroid stands out most, then a number if still equal."""
    out = list(names)
    for name in set(names):
        idx = [i for i, n in enumerate(names) if n == name]
        if len(idx) < 2:
            continue
        for i in idx:
            row = centroids.iloc[i]
            feat = max(_QUALIFIERS, key=lambda f: (abs(row[f]), f))
            out[i] = f"{name}, {_QUALIFIERS[feat][0 if row[feat] >= 0 else 1]}"
    for name in set(out):
        idx = [i for i, n in enumerate(out) if n == name]
        if len(idx) > 1:
            for j, i in enumerate(idx, start=1):
                out[i] = f"{name} ({j})"
    return out


def segment_customers(features: pd.DataFrame, params: SegmentParams = DEFAULT_SEGMENT_PARAMS) -> SegmentResult:
    """Value segments of customers (module docstring for the method).

    Parameters
    ----------
    features : DataFrame
        One row per customer: ``customer_id`` and :data:`SEGMENT_FEATURES` — ``clv`` and
        ``balance`` (store currency), ``tenure_months`` (months since first disbursement),
        ``products_held`` (count), ``worst_dpd_12m`` (days), ``score_trend_6m`` (score
        points, may be missing).
    params : SegmentParams

    Returns
    -------
    SegmentResult
    """
    require_columns(features, ("customer_id", *SEGMENT_FEATURES), "segmentation features")
    feats = features.reset_index(drop=True)
    prof_cols = ["segment", "segment_name", "action", "customers",
                 *(f"mean_{f}" for f in SEGMENT_FEATURES), *(f"z_{f}" for f in SEGMENT_FEATURES)]
    if feats.empty:
        empty = feats.assign(segment=pd.Series(dtype="int64"), segment_name=pd.Series(dtype=object),
                             action=pd.Series(dtype=object))
        return SegmentResult(empty, pd.DataFrame(columns=prof_cols), 0, {})
    z = standardise_features(feats)
    zv = z.to_numpy()
    k, scores, models = choose_k(zv, params)
    labels = models[k].predict(zv) if k in models else np.zeros(len(feats), dtype=np.int64)
    # number segments by mean CLV, highest first (ties by label)
    mean_clv = pd.Series(feats["clv"].to_numpy(dtype=float)).groupby(labels).mean()
    order = sorted(mean_clv.index, key=lambda lab: (-np.nan_to_num(mean_clv[lab], nan=-np.inf), lab))
    remap = {lab: i for i, lab in enumerate(order)}
    seg = np.vectorize(remap.get, otypes=[np.int64])(labels)
    centroids = z.groupby(seg).mean().sort_index()
    raw_means = feats[list(SEGMENT_FEATURES)].astype(float).groupby(seg).mean().sort_index()
    named = [name_segment(centroids.loc[s]) for s in centroids.index]
    names = _distinct_names([n for n, _ in named], centroids)
    profiles = pd.DataFrame({
        "segment": centroids.index.to_numpy(dtype=np.int64),
        "segment_name": names,
        "action": [a for _, a in named],
        "customers": pd.Series(seg).value_counts().sort_index().to_numpy(dtype=np.int64),
    })
    for f in SEGMENT_FEATURES:
        profiles[f"mean_{f}"] = raw_means[f].to_numpy()
    for f in SEGMENT_FEATURES:
        profiles[f"z_{f}"] = centroids[f].to_numpy()
    name_of = dict(zip(profiles["segment"], profiles["segment_name"]))
    action_of = dict(zip(profiles["segment"], profiles["action"]))
    customers = feats.copy()
    customers["segment"] = seg
    customers["segment_name"] = customers["segment"].map(name_of)
    customers["action"] = customers["segment"].map(action_of)
    return SegmentResult(customers, profiles, int(len(profiles)), scores)
