"""The 12-month probability of default (PD) of each loan, learnt from the store's own history.

Target
------
For an active, performing loan at month m (``dpd <= 90`` and not in an NPL class),
``default_12m = 1`` when the loan is more than 90 days past due, or written off, at some
month in (m, m + 12 months]; else 0 (closing early is 0). Only months m with at least 12
months of stored history after them are labelled.

Method: logistic regression
---------------------------
A logistic regression (scikit-learn, L2 penalty with C = 1, Newton-Cholesky solver: a few
exact Newton steps, fast for many rows and few features) on these features:

* credit score, standardised with the training mean and standard deviation (clipped to
  ±5 SD); a missing score is 0 with the indicator ``score_missing``;
* DPD bucket at m: one-hot 1-30, 31-60, 61-90 (current is the base);
* product and segment: one-hot over the training categories (an unseen one scores as the
  base of all zeros);
* loan-to-value = balance ÷ latest collateral value, capped at 2 (beyond 200 % collateral
  barely changes the borrower's incentive, and the cap stops a near-zero valuation from
  dominating the fit); unsecured loans have 0 and the indicator ``unsecured``;
* months on book, binned 0-3, 4-6, 7-12, 13-24, 25-36, 37+ (one-hot): default hazards rise
  then fall with loan age, which bins capture without a spline's extra parameters.

Why logistic regression rather than calibrated grades: it uses every feature jointly, is
monotone and readable (one coefficient per feature, stored with the model), fits 500,000
rows in seconds, and its fitted probabilities are calibrated to the sample's default rate
by construction (the sample is drawn by loan, uniformly, so that rate is unbiased).

Validation is out of time: the latest labelled months of the sample are held out (a
quarter of them, at least one when there are two or more), the model is fitted on the
earlier months, and AUC, KS and a calibration table by decile are computed on the held-out
rows. The model used for scoring is then refitted on all labelled months.

Fallback: roll-rate chain
-------------------------
When no month has 12 months of history after it, or the labelled sample has fewer than
``MIN_CLASS_ROWS`` defaults or non-defaults, the PD comes from the roll-rate chain: the
monthly transition matrix between the states current, 1-30, 31-60, 61-90 DPD, default
(> 90 DPD or written off; absorbing) and closed (absorbing), counted per product over
consecutive stored months, and ``PD_12m = (P^12)[bucket, default]``. It needs two months of
history. A product whose own row for a bucket has no observations takes the row pooled
over all products; a bucket never observed in any product has no PD (NaN), nor has any
bucket from which the chain can reach it within the horizon.
With fewer than two months there is no PD (NaN, method ``none``).

Loans more than 90 days past due or in an NPL class (substandard, doubtful, loss) have
PD = 1 whatever the method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.classification import NPL_CLASSES
from analytics.ecl import _factorize, _isin, _numbers, secured_mask
from analytics.frames import require_columns

__all__ = [
    "FEATURE_COLUMNS",
    "TRAIN_COLUMNS",
    "MOB_EDGES",
    "LTV_CAP",
    "MIN_CLASS_ROWS",
    "CHAIN_STATES",
    "FeatureSpec",
    "PdModel",
    "dpd_bucket",
    "fit_feature_spec",
    "design_matrix",
    "linear_predictor",
    "sample_months",
    "split_out_of_time",
    "auc",
    "ks",
    "calibration_table",
    "chain_pd_table",
    "fit_pd_model",
    "chain_model",
    "predict_pd",
]

FEATURE_COLUMNS: tuple[str, ...] = (
    "credit_score",
    "dpd",
    "product",
    "segment",
    "balance",
    "collateral_type",
    "collateral_value",
    "months_on_book",
)
"""Columns a frame needs to be scored: score (may be missing), dpd (days), product,
segment, balance and latest collateral value (store currency), collateral type, months on
book (whole months since the disbursement month)."""

TRAIN_COLUMNS: tuple[str, ...] = (*FEATURE_COLUMNS, "month_index", "default_12m")
"""Training rows add ``month_index`` (year × 12 + month of m) and the 0/1 label."""

MOB_EDGES: tuple[int, ...] = (3, 6, 12, 24, 36)
"""Upper edges of the months-on-book bins 0-3, 4-6, 7-12, 13-24, 25-36; 37+ is the last."""

LTV_CAP = 2.0
MIN_CLASS_ROWS = 10
"""Fewest defaults (and non-defaults) in the training rows for a logistic fit."""

CHAIN_STATES: tuple[str, ...] = ("current", "1-30", "31-60", "61-90", "default", "closed")
"""States of the roll-rate chain, coded 0-5 in transition counts."""

_DPD_EDGES = np.array([0, 30, 60, 90])


def dpd_bucket(dpd: pd.Series | np.ndarray) -> np.ndarray:
    """Bucket code of each dpd: 0 current, 1 (1-30), 2 (31-60), 3 (61-90), 4 (> 90)."""
    return np.searchsorted(_DPD_EDGES, np.asarray(dpd, dtype=np.int64), side="left").astype(np.int8)


@dataclass(frozen=True)
class FeatureSpec:
    """What the design matrix is built from, fixed on the training rows."""

    score_mean: float
    score_std: float
    products: tuple[str, ...]
    segments: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        """Column names of the design matrix, in order."""
        return [
            "score_z",
            "score_missing",
            "dpd_1_30",
            "dpd_31_60",
            "dpd_61_90",
            *(f"product={p}" for p in self.products),
            *(f"segment={s}" for s in self.segments),
            "ltv",
            "unsecured",
            *(f"mob_bin_{i}" for i in range(len(MOB_EDGES) + 1)),
        ]


@dataclass
class PdModel:
    """A fitted PD model: how to score, and how it validated.

    ``method`` is ``logistic``, ``roll_rate_chain`` or ``none``. ``coef``/``intercept`` (logistic)
    or ``chain`` (DataFrame product, bucket, pd_12m; product ``*`` pooled) hold the
    parameters. ``validation`` holds AUC, KS, row counts and months; ``test_y``, ``test_p``
    and ``test_region`` are the held-out rows (for reports restricted to a scope).
    """

    method: str
    spec: FeatureSpec | None = None
    coef: np.ndarray | None = None
    intercept: float = 0.0
    chain: pd.DataFrame | None = None
    fallback_reason: str | None = None
    validation: dict = field(default_factory=dict)
    test_y: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    test_p: np.ndarray = field(default_factory=lambda: np.zeros(0))
    test_region: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    meta: dict = field(default_factory=dict)


def _scores(values: pd.Series) -> np.ndarray:
    s = values if pd.api.types.is_numeric_dtype(values) else pd.to_numeric(values, errors="coerce")
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def _categories(values: pd.Series) -> tuple[str, ...]:
    return tuple(sorted(str(v) for v in pd.Series(values).dropna().unique()))


def fit_feature_spec(train: pd.DataFrame) -> FeatureSpec:
    """Standardisation constants and category lists from training rows."""
    require_columns(train, FEATURE_COLUMNS, "fit_feature_spec")
    s = _scores(train["credit_score"])
    s = s[~np.isnan(s)]
    mean = float(s.mean()) if s.size else 0.0
    std = float(s.std()) if s.size > 1 and s.std() > 0 else 1.0
    return FeatureSpec(mean, std, _categories(train["product"]), _categories(train["segment"]))


def _one_hot(values: pd.Series, cats: Sequence[str]) -> np.ndarray:
    codes, uniques = _factorize(values)
    position = {c: i for i, c in enumerate(cats)}
    per_code = np.array([position.get(str(u), -1) for u in uniques] + [-1], dtype=np.int64)
    col = per_code[codes]
    out = np.zeros((len(values), len(cats)), dtype=np.float64)
    ok = col >= 0
    out[np.flatnonzero(ok), col[ok]] = 1.0
    return out


def _numeric_features(frame: pd.DataFrame, spec: FeatureSpec) -> tuple[np.ndarray, ...]:
    """(score_z, score missing, ltv, secured, months-on-book bin index) of each loan."""
    n = len(frame)
    score = _scores(frame["credit_score"])
    missing = np.isnan(score)
    score_z = np.clip(np.where(missing, 0.0, (score - spec.score_mean) / spec.score_std), -5.0, 5.0)
    bal = frame["balance"].to_numpy(dtype=np.float64)
    value = _numbers(frame["collateral_value"])
    secured = secured_mask(frame["collateral_type"], value)
    ltv = np.divide(bal, value, out=np.zeros(n), where=secured & (value > 0))
    ltv = np.where(secured, np.minimum(ltv, LTV_CAP), 0.0)
    mob = frame["months_on_book"].to_numpy(dtype=np.float64)
    mob_bin = np.searchsorted(np.asarray(MOB_EDGES, dtype=np.float64), mob, side="left")
    return score_z, missing, ltv, secured, mob_bin


def design_matrix(frame: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """The feature matrix (rows = loans, columns = ``spec.names``) of the module docstring."""
    require_columns(frame, FEATURE_COLUMNS, "design_matrix")
    n = len(frame)
    score_z, missing, ltv, secured, mob_bin = _numeric_features(frame, spec)
    bucket = dpd_bucket(frame["dpd"].to_numpy())
    dpd_cols = np.stack([(bucket == b) for b in (1, 2, 3)], axis=1).astype(np.float64)
    mob_cols = np.zeros((n, len(MOB_EDGES) + 1))
    mob_cols[np.arange(n), mob_bin] = 1.0
    return np.column_stack([
        score_z,
        missing.astype(np.float64),
        dpd_cols,
        _one_hot(frame["product"], spec.products),
        _one_hot(frame["segment"], spec.segments),
        ltv,
        (~secured).astype(np.float64),
        mob_cols,
    ])


def sample_months(labelled: Sequence[int], step: int | None = None) -> list[int]:
    """Every ``step``-th labelled month index counted back from the latest, oldest first.

    ``step`` defaults to 1 for six labelled months or fewer, else 3.
    """
    months = sorted(set(int(m) for m in labelled))
    if not months:
        return []
    if step is None:
        step = 1 if len(months) <= 6 else 3
    return sorted(months[::-1][::step])


def split_out_of_time(months: Sequence[int], test_share: float = 0.25) -> tuple[list[int], list[int]]:
    """(train months, test months): the latest ``max(1, round(n × share))`` months are the test.

    With a single month there is no test month.
    """
    ms = sorted(set(int(m) for m in months))
    if len(ms) < 2:
        return ms, []
    k = max(1, int(round(len(ms) * test_share)))
    return ms[:-k], ms[-k:]


def auc(y: np.ndarray | pd.Series, p: np.ndarray | pd.Series) -> float:
    """Area under the ROC curve of scores ``p`` against 0/1 outcomes ``y`` (ties count ½).

    Equals the Mann-Whitney probability that a random default outranks a random
    non-default. NaN when ``y`` has only one class.
    """
    yy = np.asarray(y, dtype=np.int64)
    pp = np.asarray(p, dtype=np.float64)
    n1 = int(yy.sum())
    n0 = len(yy) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = pd.Series(pp).rank(method="average").to_numpy()
    return float((ranks[yy == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ks(y: np.ndarray | pd.Series, p: np.ndarray | pd.Series) -> float:
    """Kolmogorov-Smirnov statistic: max over thresholds t of |F_default(t) − F_good(t)|.

    F are the empirical CDFs of ``p`` among defaults and non-defaults, evaluated at every
    distinct score (all tied scores cross a threshold together). NaN with one class only.
    """
    yy = np.asarray(y, dtype=np.int64)
    pp = np.asarray(p, dtype=np.float64)
    n1 = int(yy.sum())
    n0 = len(yy) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(pp, kind="mergesort")
    ps, ys = pp[order], yy[order]
    last = np.r_[ps[1:] != ps[:-1], True]  # the last row of each run of equal scores
    cum1 = np.cumsum(ys)[last] / n1
    cum0 = np.cumsum(1 - ys)[last] / n0
    return float(np.max(np.abs(cum1 - cum0)))


def calibration_table(y: np.ndarray | pd.Series, p: np.ndarray | pd.Series, n_bins: int = 10) -> pd.DataFrame:
    """Predicted against observed default rate by decile of predicted PD.

    Rows are sorted by ``p`` (stable) and cut into ``n_bins`` groups of equal count
    (group of row i = ⌊i × n_bins ÷ n⌋ + 1). Columns: ``decile`` (1 = lowest PD), ``rows``,
    ``defaults``, ``mean_pd`` and ``observed_rate`` (fractions). Empty input → empty frame.
    """
    cols = ["decile", "rows", "defaults", "mean_pd", "observed_rate"]
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    n = len(yy)
    if n == 0:
        return pd.DataFrame(columns=cols)
    order = np.argsort(pp, kind="mergesort")
    group = np.empty(n, dtype=np.int64)
    group[order] = np.arange(n) * n_bins // n + 1
    df = pd.DataFrame({"decile": group, "y": yy, "p": pp})
    out = df.groupby("decile").agg(rows=("y", "size"), defaults=("y", "sum"), mean_pd=("p", "mean"), observed_rate=("y", "mean"))
    out = out.reset_index()
    out["defaults"] = out["defaults"].astype(np.int64)
    return out[cols]


def chain_pd_table(transitions: pd.DataFrame, horizon: int = 12) -> pd.DataFrame:
    """12-month PD by product and DPD bucket from monthly transition counts (roll-rate chain).

    Parameters
    ----------
    transitions
        Columns ``product``, ``from_state`` (0-3: current, 1-30, 31-60, 61-90),
        ``to_state`` (0-5: the same, 4 default, 5 closed) and ``loans`` (count of loans
        making that move between consecutive months).
    horizon
        Months (12).

    Returns
    -------
    DataFrame
        ``product`` (``*`` = pooled over all products), ``bucket`` (0-3), ``pd_12m`` =
        ``(P^horizon)[bucket, default]`` where P is the row-normalised transition matrix
        with default and closed absorbing; a product's unobserved bucket takes the pooled
        row; NaN where the chain reaches a bucket observed nowhere. Empty input → empty frame.
    """
    require_columns(transitions, ["product", "from_state", "to_state", "loans"], "chain_pd_table")
    cols = ["product", "bucket", "pd_12m"]
    if transitions.empty or transitions["loans"].sum() == 0:
        return pd.DataFrame(columns=cols)

    def counts(t: pd.DataFrame) -> np.ndarray:
        c = np.zeros((6, 6))
        np.add.at(c, (t["from_state"].to_numpy(dtype=np.int64), t["to_state"].to_numpy(dtype=np.int64)), t["loans"].to_numpy(dtype=np.float64))
        return c

    def pds(c: np.ndarray, fallback: np.ndarray | None) -> tuple[np.ndarray, list[int]]:
        """Row-normalised matrix; rows without observations from ``fallback``, else unknown."""
        p = np.zeros((6, 6))
        p[4, 4] = p[5, 5] = 1.0
        unknown = []
        for s in range(4):
            tot = c[s].sum()
            if tot > 0:
                p[s] = c[s] / tot
            elif fallback is not None and not np.isnan(fallback[s]).any():
                p[s] = fallback[s]
            else:
                p[s, s] = 1.0  # held in place; any bucket that can reach it has no PD
                unknown.append(s)
        return p, unknown

    def horizon_pd(p: np.ndarray, unknown: list[int]) -> np.ndarray:
        ph = np.linalg.matrix_power(p, horizon)
        out = np.clip(ph[:4, 4], 0.0, 1.0)
        if unknown:
            out = np.where((ph[:4, unknown] > 0).any(axis=1), np.nan, out)
        return out

    pooled, pooled_unknown = pds(counts(transitions), None)
    pooled_marked = pooled.copy()
    pooled_marked[pooled_unknown] = np.nan
    rows = []
    results = {"*": horizon_pd(pooled, pooled_unknown)}
    for prod, t in transitions.groupby("product", sort=True):
        results[str(prod)] = horizon_pd(*pds(counts(t), pooled_marked))
    for prod, pd_by_bucket in results.items():
        for b in range(4):
            rows.append((prod, b, float(pd_by_bucket[b])))
    return pd.DataFrame(rows, columns=cols)


def _non_performing(frame: pd.DataFrame) -> np.ndarray:
    return (frame["dpd"].to_numpy(dtype=np.int64) > 90) | _isin(frame["classification"], NPL_CLASSES)


def _fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100)
    lr.fit(x, y)
    return lr.coef_[0].astype(np.float64), float(lr.intercept_[0])


def _logistic(eta: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * eta))  # the logistic function, overflow-free


def _logit_predict(x: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    return _logistic(x @ coef + intercept)


def _coef_of(values: pd.Series, cats: Sequence[str], coef: np.ndarray) -> np.ndarray:
    """The coefficient of each value's one-hot column (0 for a category not in ``cats``)."""
    codes, uniques = _factorize(values)
    position = {c: i for i, c in enumerate(cats)}
    per_code = np.array([coef[position[str(u)]] if str(u) in position else 0.0 for u in uniques] + [0.0])
    return per_code[codes]


def linear_predictor(frame: pd.DataFrame, spec: FeatureSpec, coef: np.ndarray, intercept: float) -> np.ndarray:
    """``design_matrix(frame, spec) @ coef + intercept`` without building the matrix.

    Each one-hot block (DPD bucket, product, segment, months-on-book bin) contributes the
    coefficient of the loan's column, looked up per category; the numeric features are
    multiplied out. The same sum as the matrix product, in the same feature order, so the
    result differs from it by rounding only (a few units in the last place).
    """
    require_columns(frame, FEATURE_COLUMNS, "linear_predictor")
    n_p, n_s = len(spec.products), len(spec.segments)
    c_score, c_missing = coef[0], coef[1]
    c_dpd = np.array([0.0, coef[2], coef[3], coef[4], 0.0])  # current and > 90 are the base
    c_prod, c_seg = coef[5:5 + n_p], coef[5 + n_p:5 + n_p + n_s]
    c_ltv, c_unsecured = coef[5 + n_p + n_s], coef[6 + n_p + n_s]
    c_mob = coef[7 + n_p + n_s:]
    score_z, missing, ltv, secured, mob_bin = _numeric_features(frame, spec)
    eta = score_z * c_score + missing * c_missing
    eta += c_dpd[dpd_bucket(frame["dpd"].to_numpy())]
    eta += _coef_of(frame["product"], spec.products, c_prod)
    eta += _coef_of(frame["segment"], spec.segments, c_seg)
    eta += ltv * c_ltv + (~secured) * c_unsecured
    eta += c_mob[mob_bin]
    return eta + intercept


def chain_model(transitions: pd.DataFrame, reason: str) -> PdModel:
    """A roll-rate-chain model (the fallback); ``method`` ``none`` without transitions."""
    table = chain_pd_table(transitions)
    if table.empty:
        return PdModel(method="none", fallback_reason=reason + "; fewer than two months of history, no PD")
    return PdModel(method="roll_rate_chain", chain=table, fallback_reason=reason,
                   validation={"auc": float("nan"), "ks": float("nan"), "n_train": int(transitions["loans"].sum()), "n_test": 0})


def fit_pd_model(train: pd.DataFrame, transitions: pd.DataFrame | None = None, test_share: float = 0.25) -> PdModel:
    """Fit the logistic PD model on labelled loan-months, or fall back to the roll-rate chain.

    Parameters
    ----------
    train
        Labelled rows (``TRAIN_COLUMNS``; a ``region_code`` column, when present, is kept
        with the held-out predictions). May be empty (no month has 12 months after it).
    transitions
        Monthly transition counts for the fallback (see :func:`chain_pd_table`).
    test_share
        Share of the sampled months held out, latest first.

    Returns
    -------
    PdModel
        ``logistic`` when the training rows hold at least ``MIN_CLASS_ROWS`` defaults and
        non-defaults, else the chain (``fallback_reason`` says why).
    """
    require_columns(train, TRAIN_COLUMNS, "fit_pd_model")
    y_all = train["default_12m"].to_numpy(dtype=np.int64)
    n_def = int(y_all.sum())
    if len(train) == 0 or n_def < MIN_CLASS_ROWS or len(train) - n_def < MIN_CLASS_ROWS:
        reason = (
            "no month has 12 months of history after it"
            if len(train) == 0
            else f"too few outcomes to fit ({n_def} defaults, {len(train) - n_def} non-defaults; need {MIN_CLASS_ROWS} each)"
        )
        empty = pd.DataFrame(columns=["product", "from_state", "to_state", "loans"])
        return chain_model(transitions if transitions is not None else empty, reason)

    months = train["month_index"].to_numpy(dtype=np.int64)
    train_months, test_months = split_out_of_time(np.unique(months), test_share)
    is_test = np.isin(months, test_months)
    y_tr = y_all[~is_test]
    validation: dict = {
        "train_months": [int(m) for m in train_months],
        "test_months": [int(m) for m in test_months],
    }
    test_y = np.zeros(0, dtype=np.int8)
    test_p = np.zeros(0)
    test_region = np.zeros(0, dtype=object)
    if is_test.any() and y_tr.sum() >= MIN_CLASS_ROWS and len(y_tr) - y_tr.sum() >= MIN_CLASS_ROWS:
        tr = train.loc[~is_test]
        te = train.loc[is_test]
        spec_tr = fit_feature_spec(tr)
        coef_tr, b_tr = _fit_logistic(design_matrix(tr, spec_tr), y_tr)
        test_p = _logit_predict(design_matrix(te, spec_tr), coef_tr, b_tr)
        test_y = y_all[is_test].astype(np.int8)
        if "region_code" in te.columns:
            test_region = te["region_code"].to_numpy(dtype=object)
        else:
            test_region = np.full(len(te), None, dtype=object)
    validation.update(
        auc=auc(test_y, test_p),
        ks=ks(test_y, test_p),
        n_train=int((~is_test).sum()),
        n_test=int(is_test.sum()),
        n_train_defaults=int(y_tr.sum()),
        n_test_defaults=int(test_y.sum()),
    )
    spec = fit_feature_spec(train)
    coef, b = _fit_logistic(design_matrix(train, spec), y_all)
    return PdModel(method="logistic", spec=spec, coef=coef, intercept=b, validation=validation,
                   test_y=test_y, test_p=test_p, test_region=test_region)


def predict_pd(model: PdModel, frame: pd.DataFrame) -> np.ndarray:
    """12-month PD (fraction) of each loan of ``frame`` under ``model``.

    ``frame`` needs ``FEATURE_COLUMNS`` and ``classification``. Loans with dpd > 90 or an NPL
    class get 1. Chain: PD of (product, bucket), the pooled row for an unseen product.
    Method ``none``: NaN for performing loans.
    """
    require_columns(frame, [*FEATURE_COLUMNS, "classification"], "predict_pd")
    n = len(frame)
    if n == 0:
        return np.zeros(0)
    bad = _non_performing(frame)
    if model.method == "logistic":
        p = _logistic(linear_predictor(frame, model.spec, model.coef, model.intercept))
    elif model.method == "roll_rate_chain":
        table = model.chain
        bucket = np.minimum(dpd_bucket(frame["dpd"].to_numpy()), 3)
        grid = table.pivot(index="product", columns="bucket", values="pd_12m").reindex(columns=range(4))
        codes, uniques = _factorize(frame["product"])
        rows = [str(u) if str(u) in grid.index else "*" for u in uniques] + ["*"]
        per_code = grid.loc[rows].to_numpy(dtype=np.float64)  # one row of 4 bucket PDs per code
        p = per_code[codes, bucket]
    else:
        p = np.full(n, np.nan)
    return np.where(bad, 1.0, p)
