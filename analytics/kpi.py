"""Book KPIs of metrics.md, computed from the sums of ``data.read.book_aggregates``.

This is the base of the risk maths: the zero-safe ratio (:func:`safe_ratio`), the
provisioning policy, and the book-level rates. ``analytics.delinquency`` and ``analytics.provisions`` build on it.

All rates are fractions; a rate whose denominator is zero is ``NaN`` (``null`` in the
report). Money is in the store's currency; dpd in whole days.

Definitions (metrics.md):

* overdue rate at k (k = 0, 30, 90: "1+", "30+", "90+ DPD"), by balance =
  Σ balance where dpd > k ÷ Σ balance; by count = loans where dpd > k ÷ loans;
* NPL balance = balance classed substandard + doubtful + loss (次级 + 可疑 + 损失);
  NPL ratio (不良贷款率) = NPL balance ÷ balance;
* required provision (benchmark method, 《银行贷款损失准备计提指引》) = 1 % of total balance
  (general reserve) + 0 % normal, 2 % special mention, 25 % substandard, 50 % doubtful,
  100 % loss of each class's balance;
* provision coverage ratio (拨备覆盖率) = provisions ÷ NPL balance (NaN without NPL);
* loan provision ratio (贷款拨备率, 拨贷比) = provisions ÷ balance;
* coverage gap = max(0, minimum coverage × NPL balance − provisions); loan provision gap =
  max(0, minimum loan provision ratio × balance − provisions): the money short of each
  regulatory minimum, 0 when it is met.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.classification import CLASSES, NPL_CLASSES
from analytics.frames import require_columns

__all__ = [
    "ProvisionPolicy",
    "DEFAULT_POLICY",
    "THRESHOLDS",
    "THRESHOLD_LABELS",
    "COVERAGE_RANGE",
    "LOAN_PROVISION_RATIO_RANGE",
    "safe_ratio",
    "overdue_rates",
    "provision_kpis",
    "book_kpis",
    "rollup",
]

THRESHOLDS: tuple[int, ...] = (0, 30, 90)
"""dpd > k for the "1+", "30+" and "90+ DPD" overdue rates."""

THRESHOLD_LABELS: dict[int, str] = {0: "1+ DPD 逾期1天以上", 30: "30+ DPD 逾期30天以上", 90: "90+ DPD 逾期90天以上"}
"""Display name (English and 中文) of each threshold k ("1+ DPD" is dpd > 0)."""

_SUFFIX = {0: 1, 30: 30, 90: 90}

COVERAGE_RANGE: tuple[float, float] = (1.20, 1.50)
"""Allowed range of the provision coverage minimum (拨备覆盖率), fractions (120 %-150 %)."""

LOAN_PROVISION_RATIO_RANGE: tuple[float, float] = (0.015, 0.025)
"""Allowed range of the loan provision ratio minimum (拨贷比), fractions (1.5 %-2.5 %)."""


@dataclass(frozen=True)
class ProvisionPolicy:
    """Provisioning parameters; defaults are metrics.md's.

    ``general_rate`` (fraction) applies to the whole balance (general reserve, 一般准备);
    ``specific_rates`` gives one fraction per class (专项准备). ``min_coverage`` (拨备覆盖率
    minimum, 1.20-1.50) and ``min_loan_provision_ratio`` (拨贷比 minimum, 0.015-0.025) are
    the regulatory minimums; a value outside its range raises ``ValueError``.
    """

    general_rate: float = 0.01
    specific_rates: tuple[tuple[str, float], ...] = (
        ("normal", 0.0),
        ("special_mention", 0.02),
        ("substandard", 0.25),
        ("doubtful", 0.50),
        ("loss", 1.00),
    )
    min_coverage: float = 1.50
    min_loan_provision_ratio: float = 0.025

    def __post_init__(self) -> None:
        lo, hi = COVERAGE_RANGE
        if not lo <= self.min_coverage <= hi:
            raise ValueError(f"min_coverage {self.min_coverage} outside the allowed {lo}-{hi}")
        lo, hi = LOAN_PROVISION_RATIO_RANGE
        if not lo <= self.min_loan_provision_ratio <= hi:
            raise ValueError(f"min_loan_provision_ratio {self.min_loan_provision_ratio} outside {lo}-{hi}")
        if not 0.0 <= self.general_rate <= 1.0:
            raise ValueError(f"general_rate {self.general_rate} outside 0-1")
        rates = dict(self.specific_rates)
        if set(rates) != set(CLASSES):
            raise ValueError(f"specific_rates must give exactly the classes {CLASSES}; got {sorted(rates)}")
        bad = {c: r for c, r in rates.items() if not 0.0 <= r <= 1.0}
        if bad:
            raise ValueError(f"specific rates outside 0-1: {bad}")

    def rate(self, cls: str) -> float:
        """The specific provision rate of class ``cls`` (a fraction)."""
        return dict(self.specific_rates)[cls]


DEFAULT_POLICY = ProvisionPolicy()


def safe_ratio(num: pd.Series | float, den: pd.Series | float) -> pd.Series | float:
    """``num ÷ den``, ``NaN`` where ``den`` is zero (or missing); never ZeroDivisionError."""
    num_s = pd.Series(num, dtype="float64") if not isinstance(num, pd.Series) else num.astype("float64")
    den_s = pd.Series(den, dtype="float64") if not isinstance(den, pd.Series) else den.astype("float64")
    out = num_s / den_s.where(den_s != 0)
    if not isinstance(num, pd.Series) and not isinstance(den, pd.Series):
        return float(out.iloc[0])
    return out


def _overdue_columns() -> list[str]:
    cols = ["loans", "balance"]
    for k in THRESHOLDS:
        cols += [f"loans_dpd_gt_{k}", f"balance_dpd_gt_{k}"]
    return cols


def overdue_rates(agg: pd.DataFrame) -> pd.DataFrame:
    """Add the overdue rates 1+/30+/90+ DPD by balance and by count to a book aggregate.

    Parameters
    ----------
    agg
        One row per group (month, and any dimension) with ``loans`` (count of active
        loans), ``balance`` (Σ outstanding principal, money) and, for k in 0, 30, 90,
        ``loans_dpd_gt_k`` and ``balance_dpd_gt_k`` (loans and balance with dpd > k).

    Returns
    -------
    DataFrame
        A copy of ``agg`` with ``overdue_rate_{1,30,90}_balance`` = balance with dpd > k ÷
        balance and ``overdue_rate_{1,30,90}_count`` = loans with dpd > k ÷ loans
        (fractions; NaN where the denominator is 0).
    """
    require_columns(agg, _overdue_columns(), "book aggregate")
    out = agg.copy()
    for k in THRESHOLDS:
        n = _SUFFIX[k]
        out[f"overdue_rate_{n}_balance"] = safe_ratio(out[f"balance_dpd_gt_{k}"], out["balance"])
        out[f"overdue_rate_{n}_count"] = safe_ratio(out[f"loans_dpd_gt_{k}"], out["loans"])
    return out


def provision_kpis(agg: pd.DataFrame, policy: ProvisionPolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """Add NPL, benchmark provisions, coverage and the gaps to the regulatory minimums.

    Parameters
    ----------
    agg
        One row per group with ``balance`` and ``balance_{c}`` for each class c of
        ``CLASSES`` (money).
    policy
        Rates and regulatory minimums.

    Returns
    -------
    DataFrame
        A copy of ``agg`` with ``npl_balance`` (substandard + doubtful + loss balance),
        ``npl_ratio`` (不良贷款率, NPL balance ÷ balance), ``provisions`` (general rate ×
        balance + Σ_c specific rate_c × balance_c), ``provision_coverage`` (拨备覆盖率,
        provisions ÷ NPL balance; NaN without NPL), ``loan_provision_ratio`` (拨贷比,
        provisions ÷ balance), ``coverage_gap`` = max(0, min_coverage × NPL balance −
        provisions) and ``loan_provision_gap`` = max(0, min_loan_provision_ratio × balance −
        provisions) (money short of each minimum; 0 when met).
    """
    require_columns(agg, ["balance", *(f"balance_{c}" for c in CLASSES)], "book aggregate")
    out = agg.copy()
    out["npl_balance"] = sum((out[f"balance_{c}"].astype("float64") for c in NPL_CLASSES), start=0.0)
    out["npl_ratio"] = safe_ratio(out["npl_balance"], out["balance"])
    out["provisions"] = policy.general_rate * out["balance"].astype("float64") + sum(
        (policy.rate(c) * out[f"balance_{c}"].astype("float64") for c in CLASSES), start=0.0
    )
    out["provision_coverage"] = safe_ratio(out["provisions"], out["npl_balance"])
    out["loan_provision_ratio"] = safe_ratio(out["provisions"], out["balance"])
    out["coverage_gap"] = np.maximum(policy.min_coverage * out["npl_balance"] - out["provisions"], 0.0)
    out["loan_provision_gap"] = np.maximum(
        policy.min_loan_provision_ratio * out["balance"].astype("float64") - out["provisions"], 0.0
    )
    return out


def book_kpis(agg: pd.DataFrame, policy: ProvisionPolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """Add the KPI columns of metrics.md to a ``book_aggregates`` frame.

    Adds ``overdue_rate_{1,30,90}_{balance,count}`` (:func:`overdue_rates`) and
    ``npl_balance``, ``npl_ratio``, ``provisions``, ``provision_coverage`` (NaN without
    NPL), ``loan_provision_ratio``, ``coverage_gap`` and ``loan_provision_gap``
    (:func:`provision_kpis`).
    """
    return provision_kpis(overdue_rates(agg), policy)


def rollup(agg: pd.DataFrame, keep: Iterable[str] = ("as_of",)) -> pd.DataFrame:
    """Sum a ``book_aggregates`` frame over every grouping column not in ``keep``.

    The aggregates are plain sums and counts, so the book of a month is the sum of its
    regions: one database pass by region serves both the regional and the total figures.
    """
    keep = list(keep)
    require_columns(agg, keep, "aggregates")
    sums = [c for c in agg.columns if (c.startswith(("loans", "balance")))]
    return agg.groupby(keep, as_index=False, sort=True)[sums].sum()
