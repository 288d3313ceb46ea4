"""IFRS 9 style expected credit loss (ECL): stages, LGD, lifetime PD (metrics.md, Provisions).

Definitions
-----------
* **Stage** (metrics.md): stage 3 when ``dpd > 90`` or the stored class is non-performing
  (substandard, doubtful, loss: 次级, 可疑, 损失); else stage 2 when ``31 <= dpd <= 90``;
  else stage 1 (``dpd <= 30``). A special-mention (关注) loan that is current stays in stage 1:
  the spec stages by days past due and the NPL class only.
* **EAD** = balance (``outstanding_principal``, store currency); undrawn limits are not in
  the store, so there is no credit conversion factor.
* **PD used** (a fraction), from the loan's 12-month PD ``pd_12m`` and its remaining term
  ``T = max(remaining_months, 1)`` months, under a constant monthly hazard:

  - stage 1 (12-month ECL): ``1 − (1 − pd_12m)^(min(T, 12) / 12)``. A loan with less than a
    year left can only default within its remaining life (IFRS 9 B5.5.43: the 12-month
    window is shortened to the expected life), so the horizon is ``min(T, 12)``;
  - stage 2 (lifetime ECL): ``1 − (1 − pd_12m)^(T / 12)``, at most 1;
  - stage 3: 1.

  A loan past its maturity but still active has ``T = 1``.
* **LGD** (a fraction). A loan is *collateralised* when its collateral type is given and not
  ``none`` and its latest collateral value is > 0. For such a loan

      LGD = max(0, balance − value × max(0, 1 + β · house-price shock) × (1 − haircut)) ÷ balance,

  floored at ``lgd_floor``; ``β`` is 1 for real estate (the shock is a house-price shock) and
  0 for other collateral (vehicles, receivables, deposits are not houses; their forced-sale
  loss is in the haircut). Other loans take the unsecured LGD of their product. A loan with a
  zero balance has the floor (secured) or the unsecured LGD; its ECL is 0 either way.
* **ECL** = PD used × LGD × EAD, store currency.

Default parameters (:class:`EclConfig`) and why:

* haircut 40 % for real estate, vehicles, equipment, inventory and receivables: the Basel III
  foundation-IRB collateral haircut ``H_C`` (CRE32) for receivables, residential and
  commercial real estate and other physical collateral; 0 % for cash deposits (the
  supervisory haircut of cash in the same currency); 50 % for guarantees (not collateral
  under Basel, which substitutes the guarantor's PD; half the guaranteed value is a prudent
  stand-in for a recovery from a guarantor); 40 % for any type not listed;
* LGD floor 10 % for collateralised loans: the Basel III LGD input floor for exposures
  secured by real estate or receivables (CRE32.16-17; 5 % for retail mortgages, 15 % for
  other physical collateral);
* unsecured LGD 45 %: the foundation-IRB LGD of senior unsecured claims (Basel II; 40 % for
  non-financial corporates under Basel III), and 75 % for credit cards, whose workout
  recoveries are low (published card LGDs lie around 70-90 %; the Basel III floor for
  revolving retail is 50 %).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.classification import NPL_CLASSES
from analytics.frames import require_columns

__all__ = [
    "EclConfig",
    "DEFAULT_ECL",
    "STAGES",
    "secured_mask",
    "assign_stage",
    "lgd",
    "horizon_pd",
    "lifetime_pd",
    "loan_ecl",
    "ecl_summary",
]

STAGES: tuple[int, ...] = (1, 2, 3)


@dataclass(frozen=True)
class EclConfig:
    """ECL parameters; the defaults and their reasons are in the module docstring.

    Attributes
    ----------
    haircuts
        ``(collateral_type, haircut)`` pairs: the share of the collateral value lost in a
        forced sale (fraction).
    default_haircut
        Haircut of a collateral type not listed.
    lgd_floor
        Minimum LGD of a collateralised loan (fraction).
    unsecured_lgd
        ``(product, LGD)`` pairs for loans without collateral.
    default_unsecured_lgd
        LGD of an unsecured loan whose product is not listed.
    house_price_beta
        ``(collateral_type, β)``: how much of the house-price shock a collateral type takes
        (β · shock); types not listed take 0.
    """

    haircuts: tuple[tuple[str, float], ...] = (
        ("real_estate", 0.40),
        ("vehicle", 0.40),
        ("equipment", 0.40),
        ("inventory", 0.40),
        ("receivables", 0.40),
        ("deposit", 0.0),
        ("guarantee", 0.50),
    )
    default_haircut: float = 0.40
    lgd_floor: float = 0.10
    unsecured_lgd: tuple[tuple[str, float], ...] = (("credit_card", 0.75),)
    default_unsecured_lgd: float = 0.45
    house_price_beta: tuple[tuple[str, float], ...] = (("real_estate", 1.0),)

    def __post_init__(self) -> None:
        fractions = [("default_haircut", self.default_haircut), ("lgd_floor", self.lgd_floor),
                     ("default_unsecured_lgd", self.default_unsecured_lgd)]
        fractions += [(f"haircut of {k}", v) for k, v in self.haircuts]
        fractions += [(f"unsecured LGD of {k}", v) for k, v in self.unsecured_lgd]
        for name, v in fractions:
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {v}")


DEFAULT_ECL = EclConfig()


def _factorize(values: pd.Series | np.ndarray) -> tuple[np.ndarray, list]:
    """Integer codes (−1 for missing) and the distinct values, without an object copy."""
    codes, uniques = pd.factorize(values if isinstance(values, pd.Series) else pd.Series(values))
    return codes, list(uniques)


def _lookup(values: pd.Series | np.ndarray, table: Sequence[tuple[str, float]], default: float) -> np.ndarray:
    """``table[value]`` for each value, ``default`` for values not in it (and missing ones)."""
    mapping = dict(table)
    codes, uniques = _factorize(values)
    per_code = np.array([mapping.get(u, default) for u in uniques] + [default], dtype=np.float64)
    return per_code[codes]


def _isin(values: pd.Series | np.ndarray, members: Iterable[str]) -> np.ndarray:
    """True where the value is one of ``members`` (missing values: False)."""
    wanted = set(members)
    codes, uniques = _factorize(values)
    per_code = np.array([u in wanted for u in uniques] + [False], dtype=bool)
    return per_code[codes]


def _numbers(values: pd.Series | np.ndarray) -> np.ndarray:
    """Float array, missing (and non-numeric) values as 0."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if not pd.api.types.is_numeric_dtype(s):
        s = pd.to_numeric(s, errors="coerce")
    return np.nan_to_num(s.to_numpy(dtype=np.float64, na_value=np.nan), nan=0.0)


def secured_mask(collateral_type: pd.Series | np.ndarray, collateral_value: pd.Series | np.ndarray) -> np.ndarray:
    """True for a collateralised loan: a collateral type other than none/missing and value > 0."""
    codes, uniques = _factorize(collateral_type)
    typed = np.array([str(u).strip().lower() not in ("", "none") for u in uniques] + [False], dtype=bool)
    return typed[codes] & (_numbers(collateral_value) > 0)


def assign_stage(dpd: pd.Series | np.ndarray, classification: pd.Series | np.ndarray) -> np.ndarray:
    """IFRS 9 stage (1, 2, 3) of each loan from ``dpd`` (days) and the stored class key.

    Stage 3: dpd > 90 or class in substandard/doubtful/loss; stage 2: 31-90 dpd; stage 1:
    dpd <= 30.
    """
    d = np.asarray(dpd, dtype=np.int64)
    npl = _isin(classification, NPL_CLASSES)
    return np.where((d > 90) | npl, 3, np.where(d > 30, 2, 1)).astype(np.int8)


def lgd(
    balance: np.ndarray | pd.Series,
    collateral_value: np.ndarray | pd.Series,
    collateral_type: np.ndarray | pd.Series,
    product: np.ndarray | pd.Series,
    config: EclConfig = DEFAULT_ECL,
    house_price_shock: float = 0.0,
) -> np.ndarray:
    """Loss given default of each loan (fraction), by the module's definition.

    Parameters
    ----------
    balance, collateral_value
        Store currency; a missing collateral value counts as 0 (unsecured).
    collateral_type, product
        Keys as in the loan tape (``real_estate`` ..., ``mortgage`` ...).
    house_price_shock
        Relative change of house prices, a fraction (−0.30 is a 30 % fall).
    """
    bal = np.asarray(balance, dtype=np.float64)
    value = _numbers(collateral_value)
    secured = secured_mask(collateral_type, value)
    haircut = _lookup(collateral_type, config.haircuts, config.default_haircut)
    beta = _lookup(collateral_type, config.house_price_beta, 0.0)
    recoverable = value * np.maximum(0.0, 1.0 + beta * house_price_shock) * (1.0 - haircut)
    shortfall = np.maximum(0.0, bal - recoverable)
    secured_lgd = np.divide(shortfall, bal, out=np.zeros_like(bal), where=bal > 0)
    secured_lgd = np.maximum(secured_lgd, config.lgd_floor)
    unsecured = _lookup(product, config.unsecured_lgd, config.default_unsecured_lgd)
    return np.where(secured, secured_lgd, unsecured)


def horizon_pd(pd_12m: np.ndarray | pd.Series, months: np.ndarray | pd.Series | float) -> np.ndarray:
    """PD over ``months`` from a 12-month PD at a constant hazard: ``1 − (1 − PD12)^(months/12)``.

    ``pd_12m`` is a fraction in [0, 1]; ``months`` >= 0. The result is clipped to [0, 1].
    """
    p = np.clip(np.asarray(pd_12m, dtype=np.float64), 0.0, 1.0)
    m = np.maximum(np.asarray(months, dtype=np.float64), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - np.power(1.0 - p, m / 12.0)
    return np.clip(out, 0.0, 1.0)


def lifetime_pd(pd_12m: np.ndarray | pd.Series, remaining_months: np.ndarray | pd.Series) -> np.ndarray:
    """Lifetime PD ``1 − (1 − PD12)^(T/12)``, ``T = max(remaining_months, 1)``, capped at 1."""
    t = np.maximum(np.asarray(remaining_months, dtype=np.float64), 1.0)
    return horizon_pd(pd_12m, t)


ECL_COLUMNS: tuple[str, ...] = (
    "balance",
    "dpd",
    "classification",
    "pd_12m",
    "remaining_months",
    "collateral_type",
    "collateral_value",
    "product",
)


def loan_ecl(frame: pd.DataFrame, config: EclConfig = DEFAULT_ECL, house_price_shock: float = 0.0) -> pd.DataFrame:
    """Per-loan stage, PD used, LGD, EAD and ECL.

    Parameters
    ----------
    frame
        One row per loan with ``balance`` (store currency), ``dpd`` (days),
        ``classification`` (stored class key), ``pd_12m`` (fraction), ``remaining_months``
        (whole months to maturity, may be <= 0), ``collateral_type``, ``collateral_value``
        (latest valuation, store currency, missing = none) and ``product``; other columns are
        kept.
    config
        LGD parameters.
    house_price_shock
        Passed to :func:`lgd` (0 for the reported ECL).

    Returns
    -------
    DataFrame
        ``frame`` plus ``stage`` (1, 2, 3), ``pd_used``, ``lgd`` (fractions), ``ead`` and
        ``ecl`` (store currency). A missing ``pd_12m`` of a stage 1/2 loan gives ECL NaN.
    """
    require_columns(frame, ECL_COLUMNS, "loan_ecl")
    out = frame.copy()
    stage = assign_stage(out["dpd"], out["classification"])
    pd12 = out["pd_12m"].to_numpy(dtype=np.float64)
    t = np.maximum(out["remaining_months"].to_numpy(dtype=np.float64), 1.0)
    # one power per loan: the 12-month window (stage 1) or the lifetime (stage 2); stage 3 is 1
    pd_used = horizon_pd(pd12, np.where(stage == 1, np.minimum(t, 12.0), t))
    pd_used = np.where(stage == 3, 1.0, pd_used)
    pd_used = np.where((stage < 3) & np.isnan(pd12), np.nan, pd_used)
    out["stage"] = stage
    out["pd_used"] = pd_used
    out["lgd"] = lgd(out["balance"], out["collateral_value"], out["collateral_type"], out["product"], config, house_price_shock)
    out["ead"] = out["balance"].to_numpy(dtype=np.float64)
    out["ecl"] = out["pd_used"] * out["lgd"] * out["ead"]
    return out


def ecl_summary(loans: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """ECL by stage (and by the ``by`` columns) from :func:`loan_ecl` output.

    Returns one row per (``by`` ..., ``stage``) present, sorted, with ``loans``, ``balance``,
    ``ecl`` (store currency) and ``coverage`` = ECL ÷ balance (NaN for a zero balance). An
    empty input gives an empty frame with these columns.
    """
    require_columns(loans, ["stage", "balance", "ecl", *by], "ecl_summary")
    keys = [*by, "stage"]
    cols = [*keys, "loans", "balance", "ecl", "coverage"]
    if loans.empty:
        return pd.DataFrame(columns=cols)
    g = loans.groupby(keys, sort=True, observed=True, dropna=False)
    out = g.agg(loans=("balance", "size"), balance=("balance", "sum"), ecl=("ecl", "sum"), priced=("ecl", "count"))
    out["ecl"] = out["ecl"].where(out["priced"] == out["loans"])  # a loan without ECL makes its group's NaN
    out = out.reset_index()
    out["coverage"] = out["ecl"] / out["balance"].where(out["balance"] != 0)
    return out[cols]
