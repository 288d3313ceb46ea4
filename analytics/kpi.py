"""Book KPIs of metrics.md, computed from the sums of ``data.read.book_aggregates``.

All rates are fractions; a rate whose denominator is zero is ``NaN`` (``null`` in the
report). Money is in the store's currency.

Definitions (metrics.md):

* overdue rate at k (k = 0, 30, 90: "1+", "30+", "90+ DPD"), by balance =
  Σ balance where dpd > k ÷ Σ balance; by count = loans where dpd > k ÷ loans;
* NPL balance = balance classed substandard + doubtful + loss (次级 + 可疑 + 损失);
  NPL ratio (不良贷款率) = NPL balance ÷ balance;
* required provision (benchmark method, 《银行贷款损失准备计提指引》) = 1 % of total balance
  (general reserve) + 0 % normal, 2 % special mention, 25 % substandard, 50 % doubtful,
  100 % loss of each class's balance;
* provision coverage ratio (拨备覆盖率) = provisions ÷ NPL balance;
* loan provision ratio (贷款拨备率, 拨贷比) = provisions ÷ balance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.classification import CLASSES, NPL_CLASSES

__all__ = [
    "ProvisionPolicy",
    "DEFAULT_POLICY",
    "THRESHOLDS",
    "safe_ratio",
    "book_kpis",
]

THRESHOLDS: tuple[int, ...] = (0, 30, 90)
"""dpd > k for the "1+", "30+" and "90+ DPD" overdue rates."""

_LABEL = {0: 1, 30: 30, 90: 90}


@dataclass(frozen=True)
class ProvisionPolicy:
    """Provisioning parameters; defaults are metrics.md's.

    ``general_rate`` applies to the whole balance; ``specific_rates`` per class (fractions).
    ``min_coverage`` (拨备覆盖率 minimum, 1.20-1.50) and ``min_loan_provision_ratio``
    (拨贷比 minimum, 0.015-0.025) are the regulatory minimums.
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
        if not 1.20 <= self.min_coverage <= 1.50:
            raise ValueError(f"min_coverage {self.min_coverage} outside the allowed 1.20-1.50")
        if not 0.015 <= self.min_loan_provision_ratio <= 0.025:
            raise ValueError(f"min_loan_provision_ratio {self.min_loan_provision_ratio} outside 0.015-0.025")


DEFAULT_POLICY = ProvisionPolicy()


def safe_ratio(num: pd.Series | float, den: pd.Series | float) -> pd.Series | float:
    """``num ÷ den``, ``NaN`` where ``den`` is zero (or missing)."""
    num_s = pd.Series(num, dtype="float64") if not isinstance(num, pd.Series) else num.astype("float64")
    den_s = pd.Series(den, dtype="float64") if not isinstance(den, pd.Series) else den.astype("float64")
    out = num_s / den_s.where(den_s != 0)
    if not isinstance(num, pd.Series) and not isinstance(den, pd.Series):
        return float(out.iloc[0])
    return out


def book_kpis(agg: pd.DataFrame, policy: ProvisionPolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """Add the KPI columns of metrics.md to a ``book_aggregates`` frame.

    Adds ``overdue_rate_{1,30,90}_{balance,count}``, ``npl_balance``, ``npl_ratio``,
    ``provisions``, ``provision_coverage`` (NaN without NPL), ``loan_provision_ratio``,
    ``coverage_gap`` and ``loan_provision_gap`` (money short of each minimum, 0 when met).
    """
    out = agg.copy()
    for k in THRESHOLDS:
        n = _LABEL[k]
        out[f"overdue_rate_{n}_balance"] = safe_ratio(out[f"balance_dpd_gt_{k}"], out["balance"])
        out[f"overdue_rate_{n}_count"] = safe_ratio(out[f"loans_dpd_gt_{k}"], out["loans"])
    out["npl_balance"] = sum(out[f"balance_{c}"] for c in NPL_CLASSES)
    out["npl_ratio"] = safe_ratio(out["npl_balance"], out["balance"])
    rates = dict(policy.specific_rates)
    out["provisions"] = policy.general_rate * out["balance"] + sum(
        rates[c] * out[f"balance_{c}"] for c in CLASSES
    )
    out["provision_coverage"] = safe_ratio(out["provisions"], out["npl_balance"])
    out["loan_provision_ratio"] = safe_ratio(out["provisions"], out["balance"])
    out["coverage_gap"] = np.maximum(policy.min_coverage * out["npl_balance"] - out["provisions"], 0.0)
    out["loan_provision_gap"] = np.maximum(
        policy.min_loan_provision_ratio * out["balance"] - out["provisions"], 0.0
    )
    return out
