"""Early-warning rules: their definitions, parameters and the back-test's ratios.

The rules are evaluated in SQL (``data.alerts``); this module holds what is pure: the rule
set (parsed and validated from a mapping, e.g. the TOML file ``data/alert_rules.toml``),
the names, and the back-test table. Every rule looks at a loan in the book (status
``active``) at a month end m:

=========================  ==================================================================
rule                       fires when
=========================  ==================================================================
``dpd_1+``, ``dpd_30+``,   DPD crossing k (k = 0, 30, 60, 90 by default; "1+" is k = 0):
``dpd_60+``, ``dpd_90+``   the loan has a row at m − 1 with dpd ≤ k and dpd > k at m. Only
                           the highest threshold crossed fires (0 → 95 days fires ``dpd_90+``
                           alone). A loan without a row at m − 1 (new, or the first stored
                           month) has no crossing.
``score_drop``             score at m − 3 − score at m ≥ 50 points (both present; the months
                           and points are parameters).
``ltv``                    balance ÷ latest collateral value > the maximum LTV of the loan's
                           collateral type (real_estate 0.70 by default); latest value = the
                           valuation at m, else the value at origination; only types with a
                           maximum and values > 0.
``collateral_fall``        (value at origination − valuation at m) ÷ value at origination
                           > the maximum fall of the loan's collateral type (real_estate
                           0.20 by default, vehicles 0.40 as they depreciate by design;
                           ``default`` for types not listed) (both present, origination
                           value > 0, a collateral type other than none).
``classification_exception``  the reported class is better than the DPD floor
                           (metrics.md, five-level classification).
``multiple_delinquent``    the loan is delinquent (dpd > 0) and its customer has at least 2
                           delinquent loans in the book at m (counted within the evaluating
                           scope and filters); each of those loans gets the alert.
``inspection_overdue``     an inspection of the loan is due before m's last day (more than
                           ``grace_days`` before it) and was not done by that day.
=========================  ==================================================================

Each alert carries a level (low, medium, high), set per rule in the configuration. The
thresholds and levels are configuration, not code: the numbers above are those of the
shipped ``data/alert_rules.toml``.

Back-test: for every month m with 12 months of future stored, a loan "goes bad" when it is
> 90 DPD at some month in (m, m + 12]. Per rule: alerts raised (loan-months), distinct
loans alerted, the share of alerts whose loan went bad, against the base rate = the share
of all loan-months of the book over the same months that went bad; lift = share ÷ base
rate (NaN when a denominator is 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics.frames import require_columns
from analytics.kpi import safe_ratio

__all__ = [
    "LEVELS",
    "DpdThreshold",
    "DpdCrossingRule",
    "ScoreDropRule",
    "LtvRule",
    "CollateralFallRule",
    "ClassificationExceptionRule",
    "MultipleDelinquentRule",
    "InspectionOverdueRule",
    "RuleSet",
    "dpd_rule_name",
    "merge_rule_config",
    "rules_from_config",
    "backtest_table",
]

LEVELS: tuple[str, ...] = ("low", "medium", "high")
"""Alert levels, least to most severe."""


def dpd_rule_name(k: int) -> str:
    """``dpd_1+`` for k = 0, else ``dpd_<k>+`` (metrics.md's "30+" is dpd > 30)."""
    return "dpd_1+" if k == 0 else f"dpd_{k}+"


def _level(value: Any, where: str) -> str:
    if value not in LEVELS:
        raise ValueError(f"{where}: level must be one of {LEVELS}, got {value!r}")
    return value


def _fraction(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 10:
        raise ValueError(f"{where}: expected a positive fraction (0.70 is 70 %), got {value!r}")
    return float(value)


def _whole(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: expected a whole number >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class DpdThreshold:
    """Crossing dpd > ``over`` (days) raises an alert of ``level``."""

    over: int
    level: str

    @property
    def rule(self) -> str:
        """The rule's name, e.g. ``dpd_30+``."""
        return dpd_rule_name(self.over)


@dataclass(frozen=True)
class DpdCrossingRule:
    """DPD crossings; ``thresholds`` strictly increasing in ``over``."""

    enabled: bool
    thresholds: tuple[DpdThreshold, ...]


@dataclass(frozen=True)
class ScoreDropRule:
    """Score fall of at least ``points`` over ``months`` months."""

    enabled: bool
    level: str
    points: int
    months: int


@dataclass(frozen=True)
class LtvRule:
    """Balance ÷ latest collateral value above ``max_ltv[collateral_type]`` (fractions)."""

    enabled: bool
    level: str
    max_ltv: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class CollateralFallRule:
    """Latest valuation below the origination value by more than the maximum fall of the
    loan's collateral type: ``max_fall[collateral_type]``, else ``default`` (fractions)."""

    enabled: bool
    level: str
    max_fall: tuple[tuple[str, float], ...]
    default: float

    def limit(self, collateral_type: str) -> float:
        """The maximum fall (fraction) for ``collateral_type``."""
        return dict(self.max_fall).get(collateral_type, self.default)


@dataclass(frozen=True)
class ClassificationExceptionRule:
    """Reported class better than the DPD floor."""

    enabled: bool
    level: str


@dataclass(frozen=True)
class MultipleDelinquentRule:
    """A customer with at least ``min_loans`` loans with dpd > ``dpd_over`` at once."""

    enabled: bool
    level: str
    min_loans: int
    dpd_over: int


@dataclass(frozen=True)
class InspectionOverdueRule:
    """An inspection due more than ``grace_days`` before the month end and not done by it."""

    enabled: bool
    level: str
    grace_days: int


@dataclass(frozen=True)
class RuleSet:
    """The early-warning rules and their parameters.

    Built by :func:`rules_from_config` from configuration (``data/alert_rules.toml`` and
    its overrides): the thresholds and levels live there, not in code.
    """

    dpd_crossing: DpdCrossingRule
    score_drop: ScoreDropRule
    ltv: LtvRule
    collateral_fall: CollateralFallRule
    classification_exception: ClassificationExceptionRule
    multiple_delinquent: MultipleDelinquentRule
    inspection_overdue: InspectionOverdueRule

    def levels(self) -> dict[str, str]:
        """Level of every enabled rule, by rule name, in evaluation order."""
        out: dict[str, str] = {}
        if self.dpd_crossing.enabled:
            out.update({t.rule: t.level for t in self.dpd_crossing.thresholds})
        for name in _SIMPLE_RULES:
            rule = getattr(self, name)
            if rule.enabled:
                out[name] = rule.level
        return out

    def rule_names(self) -> list[str]:
        """Names of the enabled rules, in evaluation order."""
        return list(self.levels())


_SIMPLE_RULES = ("score_drop", "ltv", "collateral_fall", "classification_exception",
                 "multiple_delinquent", "inspection_overdue")

_KEYS: dict[str, tuple[str, ...]] = {
    "dpd_crossing": ("enabled", "thresholds"),
    "score_drop": ("enabled", "level", "points", "months"),
    "ltv": ("enabled", "level", "max_ltv"),
    "collateral_fall": ("enabled", "level", "max_fall"),
    "classification_exception": ("enabled", "level"),
    "multiple_delinquent": ("enabled", "level", "min_loans", "dpd_over"),
    "inspection_overdue": ("enabled", "level", "grace_days"),
}


def merge_rule_config(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` laid over it: tables merge key by key (recursively), any
    other value (numbers, strings, arrays) is replaced."""
    out: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_rule_config(out[key], value)
        else:
            out[key] = value
    return out


def _thresholds(raw: Any) -> tuple[DpdThreshold, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("dpd_crossing.thresholds: expected a non-empty list of {over, level} tables")
    ths = []
    for i, t in enumerate(raw):
        where = f"dpd_crossing.thresholds[{i}]"
        if not isinstance(t, Mapping) or set(t) != {"over", "level"}:
            raise ValueError(f"{where}: expected a table with exactly 'over' and 'level'")
        ths.append(DpdThreshold(_whole(t["over"], f"{where}.over"), _level(t["level"], f"{where}.level")))
    overs = [t.over for t in ths]
    if overs != sorted(set(overs)):
        raise ValueError(f"dpd_crossing.thresholds: 'over' must strictly increase, got {overs}")
    return tuple(ths)


def _max_fall(raw: Any) -> tuple[tuple[tuple[str, float], ...], float]:
    """``collateral_fall.max_fall``: a table of collateral_type = maximum fall with a
    ``default`` for the types not listed, or one number for every type (the older form,
    still accepted). Returns (per-type pairs sorted by type, default)."""

    def fall(value: Any, where: str) -> float:
        f = _fraction(value, where)
        if f >= 1:
            raise ValueError(f"{where}: must be below 1 (a 100 % fall), got {f}")
        return f

    if not isinstance(raw, Mapping):
        return (), fall(raw, "collateral_fall.max_fall")
    if "default" not in raw:
        raise ValueError("collateral_fall.max_fall: missing key 'default' (the maximum fall of types not listed)")
    if "none" in raw:
        raise ValueError("collateral_fall.max_fall.none: loans without collateral are never checked")
    pairs = tuple(sorted((str(k), fall(v, f"collateral_fall.max_fall.{k}")) for k, v in raw.items() if k != "default"))
    return pairs, fall(raw["default"], "collateral_fall.max_fall.default")


def rules_from_config(config: Mapping[str, Any]) -> RuleSet:
    """A validated :class:`RuleSet` from a mapping shaped like ``data/alert_rules.toml``.

    Every rule table and every key must be there (lay a partial override over the shipped
    file with :func:`merge_rule_config` first). Unknown or missing tables and keys, unknown
    levels and out-of-range numbers raise ``ValueError`` naming the key.
    """
    unknown = sorted(set(config) - set(_KEYS))
    if unknown:
        raise ValueError(f"unknown alert rule table(s) {unknown}; known: {sorted(_KEYS)}")
    tables: dict[str, Mapping[str, Any]] = {}
    for name, keys in _KEYS.items():
        table = config.get(name)
        if not isinstance(table, Mapping):
            raise ValueError(f"alert rules: missing table [{name}]")
        bad = sorted(set(table) - set(keys))
        if bad:
            raise ValueError(f"{name}: unknown key(s) {bad}; known: {list(keys)}")
        missing = [k for k in keys if k not in table]
        if missing:
            raise ValueError(f"{name}: missing key(s) {missing}")
        if not isinstance(table["enabled"], bool):
            raise ValueError(f"{name}.enabled: expected true or false, got {table['enabled']!r}")
        tables[name] = table

    def lvl(name: str) -> str:
        return _level(tables[name]["level"], f"{name}.level")

    t = tables
    max_ltv = t["ltv"]["max_ltv"]
    if not isinstance(max_ltv, Mapping):
        raise ValueError("ltv.max_ltv: expected a table of collateral_type = maximum LTV")
    falls, default_fall = _max_fall(t["collateral_fall"]["max_fall"])
    return RuleSet(
        dpd_crossing=DpdCrossingRule(t["dpd_crossing"]["enabled"], _thresholds(t["dpd_crossing"]["thresholds"])),
        score_drop=ScoreDropRule(t["score_drop"]["enabled"], lvl("score_drop"),
                                 _whole(t["score_drop"]["points"], "score_drop.points", 1),
                                 _whole(t["score_drop"]["months"], "score_drop.months", 1)),
        ltv=LtvRule(t["ltv"]["enabled"], lvl("ltv"), tuple(sorted(
            (str(k), _fraction(v, f"ltv.max_ltv.{k}")) for k, v in max_ltv.items()))),
        collateral_fall=CollateralFallRule(t["collateral_fall"]["enabled"], lvl("collateral_fall"), falls,
                                           default_fall),
        classification_exception=ClassificationExceptionRule(
            t["classification_exception"]["enabled"], lvl("classification_exception")),
        multiple_delinquent=MultipleDelinquentRule(
            t["multiple_delinquent"]["enabled"], lvl("multiple_delinquent"),
            _whole(t["multiple_delinquent"]["min_loans"], "multiple_delinquent.min_loans", 2),
            _whole(t["multiple_delinquent"]["dpd_over"], "multiple_delinquent.dpd_over")),
        inspection_overdue=InspectionOverdueRule(
            t["inspection_overdue"]["enabled"], lvl("inspection_overdue"),
            _whole(t["inspection_overdue"]["grace_days"], "inspection_overdue.grace_days")),
    )


def backtest_table(counts: pd.DataFrame, levels: Mapping[str, str]) -> pd.DataFrame:
    """The back-test table from per-rule counts.

    Parameters
    ----------
    counts : DataFrame
        ``rule``, ``alerts`` (loan-months alerted), ``alerted_loans`` (distinct loans),
        ``alerts_bad`` (alerts whose loan was > 90 DPD within the next 12 months); plus a
        row whose ``rule`` is ``"__book__"``: the book's loan-months over the same months
        (``alerts`` = loan-months, ``alerts_bad`` = the bad ones; its ``alerted_loans`` is
        not used).
    levels : mapping
        Rule name → level; every rule here gets a row (zeros when it never fired).

    Returns
    -------
    DataFrame
        ``rule``, ``level``, ``alerts``, ``alerted_loans``, ``alerts_bad``, ``share_bad``
        (alerts_bad ÷ alerts), ``base_loan_months``, ``base_bad``, ``base_rate``
        (base_bad ÷ base_loan_months), ``lift`` (share_bad ÷ base_rate); NaN where a
        denominator is 0. Rules in ``levels``' order.
    """
    require_columns(counts, ("rule", "alerts", "alerted_loans", "alerts_bad"), "back-test counts")
    by_rule = counts.set_index("rule")
    book = by_rule.loc["__book__"] if "__book__" in by_rule.index else pd.Series(
        {"alerts": 0, "alerted_loans": 0, "alerts_bad": 0})
    rules = list(levels)
    out = pd.DataFrame({"rule": rules, "level": [levels[r] for r in rules]})
    for c in ("alerts", "alerted_loans", "alerts_bad"):
        out[c] = by_rule[c].reindex(rules).fillna(0).to_numpy(dtype=np.int64) if len(by_rule) else np.zeros(
            len(rules), dtype=np.int64)
    out["share_bad"] = safe_ratio(out["alerts_bad"], out["alerts"])
    out["base_loan_months"] = int(book["alerts"])
    out["base_bad"] = int(book["alerts_bad"])
    base_rate = safe_ratio(float(book["alerts_bad"]), float(book["alerts"]))
    out["base_rate"] = base_rate
    out["lift"] = safe_ratio(out["share_bad"], pd.Series(base_rate, index=out.index))
    return out
