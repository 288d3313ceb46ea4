"""Five-level classification and provisions: the tables and checks a user reads.

Pure pandas / numpy; the sums come from ``data.read.book_aggregates`` and
``data.classification``. Money in the store's currency, rates as fractions, ``NaN``
where a denominator is 0.

Definitions (metrics.md, and the choices this module makes where it is silent):

* **Floor** (《商业银行金融资产风险分类办法》, 2023): dpd 0 → normal 正常; 1-90 → special
  mention 关注; 91-270 → substandard 次级; 271-360 → doubtful 可疑; > 360 → loss 损失.
  An **exception** is a loan whose reported class is better than its floor (a missing
  reported class is not an exception: the stored class is then the floor).
* **NPL balance** = balance in substandard + doubtful + loss; **NPL ratio** (不良贷款率) =
  NPL balance ÷ balance.
* **Required provision** (benchmark method, 《银行贷款损失准备计提指引》) = general reserve
  (1 % of total balance, 一般准备) + Σ specific rate × class balance (专项准备: 0 %, 2 %,
  25 %, 50 %, 100 %).
* **Provision coverage ratio** (拨备覆盖率) = provisions ÷ NPL balance, NaN without NPL (the
  minimum is then met); **loan provision ratio** (贷款拨备率, 拨贷比) = provisions ÷ balance.
* **Gaps**: coverage gap = max(0, minimum coverage × NPL balance − provisions); loan
  provision gap = max(0, minimum loan provision ratio × balance − provisions);
  **shortfall** = the larger of the two: the provisions to add so that both minimums are met.
* **Class migration** month a → b: among loans active at a in class c, the share (by count,
  and by balance at a) in class d at b (active at b), or ``closed`` / ``written_off`` (status
  at b), or ``missing`` (no row at b). Rows sum to 1, or are NaN for a class with nothing
  at a.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics.classification import CLASS_NAMES_ZH, CLASSES, NPL_CLASSES
from analytics.delinquency import TERMINAL_STATES, Measure, transition_matrix
from analytics.frames import require_columns
from analytics.kpi import DEFAULT_POLICY, ProvisionPolicy, provision_kpis, safe_ratio

__all__ = [
    "CLASSES",
    "NPL_CLASSES",
    "CLASS_LABELS",
    "FLOOR_UPPER_DPD",
    "MIGRATION_STATES",
    "MIGRATION_STATE_LABELS",
    "METRIC_LABELS",
    "DEFINITIONS",
    "ProvisionPolicy",
    "DEFAULT_POLICY",
    "floor_rank",
    "exception_mask",
    "provision_table",
    "regulatory_check",
    "migration_matrix",
]

CLASS_LABELS: dict[str, str] = {
    "normal": "Normal 正常",
    "special_mention": "Special mention 关注",
    "substandard": "Substandard 次级",
    "doubtful": "Doubtful 可疑",
    "loss": "Loss 损失",
}
"""Display label (English and 中文) of each class of the five-level classification."""

MIGRATION_STATES: tuple[str, ...] = CLASSES + TERMINAL_STATES
"""Columns of a class migration matrix: the five classes, closed, written_off, missing."""

MIGRATION_STATE_LABELS: dict[str, str] = {
    **CLASS_LABELS,
    "closed": "Closed 已结清",
    "written_off": "Written off 已核销",
    "missing": "Not reported 未报送",
}
"""Display label of each migration state."""

METRIC_LABELS: dict[str, str] = {
    "balance": "Balance 贷款余额",
    "npl_balance": "NPL balance 不良贷款余额",
    "npl_ratio": "NPL ratio 不良贷款率",
    "provisions": "Required provisions 贷款损失准备（应计提）",
    "general_reserve": "General reserve 一般准备",
    "specific_provision": "Specific provision 专项准备",
    "provision_coverage": "Provision coverage ratio 拨备覆盖率",
    "loan_provision_ratio": "Loan provision ratio 拨贷比（贷款拨备率）",
    "min_coverage": "Minimum provision coverage 拨备覆盖率监管要求",
    "min_loan_provision_ratio": "Minimum loan provision ratio 拨贷比监管要求",
    "coverage_gap": "Shortfall to the coverage minimum 拨备覆盖率缺口",
    "loan_provision_gap": "Shortfall to the loan provision minimum 拨贷比缺口",
    "shortfall": "Provisions to add 需补提准备",
    "exceptions": "Classification exceptions 分类偏离（报送分类优于逾期下限）",
    "migration": "Class migration 五级分类迁徙",
    "rate": "Provision rate 计提比例",
    "provision": "Provision 计提金额",
}
"""Display label (English and 中文) of each classification and provision metric."""

DEFINITIONS: dict[str, dict[str, str]] = {
    "floor_class": {
        "en": "Lowest class allowed by days past due: 0 normal, 1-90 special mention, 91-270 substandard, "
        "271-360 doubtful, over 360 loss.",
        "zh": "按逾期天数的最低分类：0天正常，1-90天关注，91-270天次级，271-360天可疑，360天以上损失。",
    },
    "exceptions": {
        "en": "Loans whose reported class is better than the class their days past due require.",
        "zh": "报送的五级分类优于逾期天数对应最低分类的贷款。",
    },
    "npl_ratio": {
        "en": "Balance classed substandard, doubtful or loss ÷ total balance.",
        "zh": "次级、可疑、损失类贷款余额 ÷ 贷款总余额。",
    },
    "provisions": {
        "en": "Benchmark method: 1% of total balance (general reserve) + 0%/2%/25%/50%/100% of the "
        "normal/special mention/substandard/doubtful/loss balance.",
        "zh": "基准法：贷款总余额的1%（一般准备）加正常、关注、次级、可疑、损失类余额的0%、2%、25%、50%、100%（专项准备）。",
    },
    "provision_coverage": {
        "en": "Provisions ÷ NPL balance; blank when there is no NPL. Regulatory minimum 150% (configurable 120-150%).",
        "zh": "贷款损失准备 ÷ 不良贷款余额；无不良时留空。监管要求150%（可设为120%-150%）。",
    },
    "loan_provision_ratio": {
        "en": "Provisions ÷ total balance. Regulatory minimum 2.5% (configurable 1.5-2.5%).",
        "zh": "贷款损失准备 ÷ 贷款总余额。监管要求2.5%（可设为1.5%-2.5%）。",
    },
    "shortfall": {
        "en": "Provisions to add so both minimums are met: the larger of the coverage gap and the loan provision gap.",
        "zh": "同时满足拨备覆盖率和拨贷比要求需补提的准备：两项缺口中的较大者。",
    },
    "migration": {
        "en": "Of loans active in class c at month a, the share (by count or by balance at a) in each class, "
        "closed, written off or not reported at month b; each row sums to 1.",
        "zh": "a月处于某类的在贷贷款中，b月处于各类、已结清、已核销或未报送的占比（按笔数或按a月余额）；每行合计为1。",
    },
}
"""Help text of each classification / provision metric: one line in English and Chinese."""

FLOOR_UPPER_DPD: tuple[int, ...] = (0, 90, 270, 360)
"""Inclusive upper dpd of the floor classes normal … doubtful (loss is dpd > 360)."""

_FLOOR_UPPER = np.asarray(FLOOR_UPPER_DPD)
_RANK = {c: i for i, c in enumerate(CLASSES)}


def floor_rank(dpd: pd.Series | np.ndarray | Sequence[int]) -> np.ndarray:
    """Rank (0 = normal … 4 = loss) of the DPD floor class of each dpd (whole days)."""
    return np.searchsorted(_FLOOR_UPPER, np.asarray(dpd, dtype=np.int64), side="left")


def exception_mask(dpd: pd.Series | np.ndarray, reported: pd.Series | np.ndarray) -> np.ndarray:
    """True where the reported class (English key; missing allowed) is better than the floor.

    A missing or unknown reported class is never an exception.
    """
    rep = pd.Series(np.asarray(reported, dtype=object)).map(_RANK).to_numpy(dtype="float64")
    return np.nan_to_num(rep, nan=np.inf) < floor_rank(dpd)


def _month_rows(agg: pd.DataFrame, month: object | None) -> pd.DataFrame:
    if month is None:
        if "as_of" in agg.columns and agg["as_of"].nunique() > 1:
            raise ValueError("the aggregate holds several months; pass month= to pick one")
        return agg
    require_columns(agg, ["as_of"], "book aggregate")
    return agg[agg["as_of"] == month]


def provision_table(
    agg: pd.DataFrame, policy: ProvisionPolicy = DEFAULT_POLICY, month: object | None = None
) -> pd.DataFrame:
    """The benchmark provision table of one month, as a user reads it.

    Parameters
    ----------
    agg
        ``data.read.book_aggregates`` rows of one month (summed if there are several,
        e.g. per region): ``balance``, ``loans``, ``balance_{c}`` and ``loans_{c}`` for
        each class c (money, counts).
    policy
        The rates.
    month
        The month to take when ``agg`` holds several (compared with ``as_of``).

    Returns
    -------
    DataFrame
        Seven rows — the five classes, ``general_reserve`` and ``total`` — with columns
        ``class``, ``label`` (English and 中文), ``name_zh``, ``loans``, ``balance``,
        ``rate`` (specific rate for a class, the general rate, and for ``total`` the
        effective rate provisions ÷ balance, i.e. 拨贷比) and ``provision`` (rate ×
        balance; the total is the required provision). A month with no book gives zeros
        and a NaN total rate.
    """
    require_columns(
        agg,
        ["balance", "loans", *(f"balance_{c}" for c in CLASSES), *(f"loans_{c}" for c in CLASSES)],
        "book aggregate",
    )
    rows = _month_rows(agg, month)
    sums = rows.select_dtypes("number").sum()
    balance = float(sums.get("balance", 0.0))
    loans = int(sums.get("loans", 0))
    table = pd.DataFrame({
        "class": list(CLASSES),
        "label": [CLASS_LABELS[c] for c in CLASSES],
        "name_zh": [CLASS_NAMES_ZH[c] for c in CLASSES],
        "loans": [int(sums.get(f"loans_{c}", 0)) for c in CLASSES],
        "balance": [float(sums.get(f"balance_{c}", 0.0)) for c in CLASSES],
        "rate": [policy.rate(c) for c in CLASSES],
    })
    table["provision"] = table["rate"] * table["balance"]
    general = policy.general_rate * balance
    total = general + float(table["provision"].sum())
    extra = pd.DataFrame({
        "class": ["general_reserve", "total"],
        "label": [METRIC_LABELS["general_reserve"], "Total 合计"],
        "name_zh": ["一般准备", "合计"],
        "loans": [loans, loans],
        "balance": [balance, balance],
        "rate": [policy.general_rate, safe_ratio(total, balance)],
        "provision": [general, total],
    })
    return pd.concat([table, extra], ignore_index=True)


def regulatory_check(agg: pd.DataFrame, policy: ProvisionPolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """Provision coverage and loan provision ratio against the regulatory minimums.

    Parameters
    ----------
    agg
        Book aggregate rows (per month, and any dimension) with ``balance`` and
        ``balance_{c}`` for every class (money).
    policy
        Rates and minimums (``min_coverage`` 1.20-1.50, ``min_loan_provision_ratio``
        0.015-0.025).

    Returns
    -------
    DataFrame
        The key columns of ``agg`` (``as_of`` and any dimension present), ``balance``,
        ``npl_balance``, ``npl_ratio``, ``provisions``, ``provision_coverage`` (NaN without
        NPL), ``min_coverage``, ``coverage_met`` (True without NPL), ``coverage_gap``,
        ``loan_provision_ratio``, ``min_loan_provision_ratio``, ``loan_provision_met``,
        ``loan_provision_gap`` and ``shortfall`` (max of the two gaps: provisions to add to
        meet both). Gaps are money, 0 when the minimum is met.
    """
    k = provision_kpis(agg, policy)
    keys = [c for c in ("as_of", "region_code", "branch_id", "product", "segment") if c in k.columns]
    k["min_coverage"] = policy.min_coverage
    k["coverage_met"] = k["coverage_gap"] <= 0
    k["min_loan_provision_ratio"] = policy.min_loan_provision_ratio
    k["loan_provision_met"] = k["loan_provision_gap"] <= 0
    k["shortfall"] = np.maximum(k["coverage_gap"], k["loan_provision_gap"])
    return k[[
        *keys, "balance", "npl_balance", "npl_ratio", "provisions", "provision_coverage", "min_coverage",
        "coverage_met", "coverage_gap", "loan_provision_ratio", "min_loan_provision_ratio",
        "loan_provision_met", "loan_provision_gap", "shortfall",
    ]].reset_index(drop=True)


def migration_matrix(transitions: pd.DataFrame, measure: Measure = "count") -> pd.DataFrame:
    """Class migration matrix month a → b, by count or by balance at a.

    Parameters
    ----------
    transitions
        ``from_state`` (class at a of a loan active at a), ``to_state`` (class at b if active,
        else ``closed`` / ``written_off`` / ``missing``), ``loans`` and ``balance`` (Σ
        balance at a).
    measure
        ``"count"`` or ``"balance"``.

    Returns
    -------
    DataFrame
        Index the five classes, columns ``MIGRATION_STATES``; rows sum to 1, or are NaN for
        a class with nothing at a.
    """
    return transition_matrix(transitions, CLASSES, MIGRATION_STATES, measure)
