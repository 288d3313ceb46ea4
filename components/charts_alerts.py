"""Figures and display tables of the Early warning page (预警).

Plain functions (no Streamlit calls besides building ``column_config`` objects): frames
of ``data.alerts`` in, plotly figures or display frames out. Labels in English or Chinese
(``lang`` = ``"en"`` / ``"zh"``); regulatory terms carry both names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics.early_warning import LEVELS, RuleSet
from components.charts import number_columns, style, tr

__all__ = [
    "LEVEL_COLOURS",
    "level_label",
    "rule_label",
    "level_totals",
    "rules_table",
    "detail_text",
    "alert_table",
    "alert_column_config",
    "rule_level_chart",
    "backtest_display",
    "backtest_column_config",
    "backtest_chart",
]

LEVEL_COLOURS = {"high": "#9b2226", "medium": "#f4a261", "low": "#e9c46a"}
_LEVELS = {"high": ("High", "高"), "medium": ("Medium", "中"), "low": ("Low", "低")}
_CLASSES = {
    "normal": "正常 normal", "special_mention": "关注 special mention", "substandard": "次级 substandard",
    "doubtful": "可疑 doubtful", "loss": "损失 loss",
}
_RULES: dict[str, tuple[str, str]] = {
    "score_drop": ("Credit score drop", "信用评分下降"),
    "ltv": ("LTV above the maximum", "抵押率超限"),
    "collateral_fall": ("Collateral value fall", "押品价值下跌"),
    "classification_exception": ("Classification exception 五级分类偏离", "五级分类偏离 Classification exception"),
    "multiple_delinquent": ("Several loans past due", "多笔贷款逾期"),
    "inspection_overdue": ("Post-loan inspection overdue", "贷后检查逾期"),
}
_DETAIL_KEYS: dict[str, tuple[str, str]] = {
    "dpd": ("DPD", "逾期天数"),
    "previous_dpd": ("previous DPD", "上月逾期天数"),
    "threshold": ("threshold", "阈值"),
    "score": ("score", "评分"),
    "score_before": ("score before", "前期评分"),
    "drop": ("drop", "降幅"),
    "months": ("months", "月数"),
    "ltv": ("LTV", "抵押率"),
    "max_ltv": ("maximum", "上限"),
    "balance": ("balance", "余额"),
    "collateral_value": ("collateral value", "押品价值"),
    "collateral_type": ("collateral", "押品类型"),
    "origination_value": ("value at origination", "发放时价值"),
    "latest_value": ("latest value", "最新估值"),
    "fall": ("fall", "跌幅"),
    "max_fall": ("maximum fall", "跌幅上限"),
    "reported": ("reported", "报告分类"),
    "floor": ("DPD floor", "逾期天数下限分类"),
    "customer_id": ("customer", "客户"),
    "delinquent_loans": ("loans past due", "逾期贷款笔数"),
    "overdue_inspections": ("inspections overdue", "逾期检查数"),
    "oldest_due_on": ("oldest due", "最早应检日"),
    "days_overdue": ("days overdue", "逾期天数"),
}
_COLLATERAL = {
    "real_estate": "房地产", "vehicle": "车辆", "equipment": "设备", "inventory": "存货",
    "receivables": "应收账款", "deposit": "存单", "guarantee": "保证", "none": "无",
}
_RATIO_KEYS = ("ltv", "max_ltv", "fall", "max_fall")
_MONEY_KEYS = ("balance", "collateral_value", "origination_value", "latest_value")


def level_label(level: str, lang: str = "zh") -> str:
    """"high" → "高" / "High"."""
    pair = _LEVELS.get(level)
    return level if pair is None else pair[0 if lang == "en" else 1]


def rule_label(rule: str, lang: str = "zh") -> str:
    """A rule's display name: ``dpd_30+`` → "逾期超过30天" / "DPD crossed 30+"."""
    if rule.startswith("dpd_") and rule.endswith("+"):
        k = rule[4:-1]
        return tr(lang, f"DPD crossed {k}+", f"逾期跨越 {k}+ 天")
    pair = _RULES.get(rule)
    return rule if pair is None else pair[0 if lang == "en" else 1]


def level_totals(counts: pd.DataFrame, rules: Sequence[str] = ()) -> dict[str, int]:
    """Alerts per level (every level of ``LEVELS``, 0 when none) from ``data.alerts.alert_counts``,
    only the given ``rules`` when some are given."""
    frame = counts[counts["rule"].isin(list(rules))] if rules else counts
    summed = frame.groupby("level")["alerts"].sum() if len(frame) else pd.Series(dtype="int64")
    return {lv: int(summed.get(lv, 0)) for lv in LEVELS}


_CONDITIONS = {
    "score_drop": lambda r, lang: (
        f"Credit score down by ≥ {r.points} points over {r.months} months",
        f"信用评分 {r.months} 个月内下降 ≥ {r.points} 分"),
    "ltv": lambda r, lang: (
        f"Balance ÷ latest collateral value above the maximum LTV of the type: {_ltv_limits(r, lang)}",
        f"余额 ÷ 最新押品价值 超过该押品类型的抵押率上限：{_ltv_limits(r, lang)}"),
    "collateral_fall": lambda r, lang: (
        "Latest collateral valuation below the value at origination by more than the maximum fall of the "
        f"type: {_fall_limits(r, lang)}",
        f"押品最新估值较发放时的跌幅超过该押品类型的上限：{_fall_limits(r, lang)}"),
    "classification_exception": lambda r, lang: (
        "Reported five-level class better than the DPD floor (正常/关注/次级/可疑/损失)",
        "报告的五级分类（正常/关注/次级/可疑/损失）优于逾期天数对应的下限"),
    "multiple_delinquent": lambda r, lang: (
        f"The customer has ≥ {r.min_loans} loans with DPD > {r.dpd_over} at the same month end",
        f"同一客户在同一月末有 ≥ {r.min_loans} 笔逾期超过 {r.dpd_over} 天的贷款"),
    "inspection_overdue": lambda r, lang: (
        f"A post-loan inspection due more than {r.grace_days} days before month end and not done",
        f"贷后检查应检日早于月末超过 {r.grace_days} 天且未完成"),
}
"""The condition (English, 中文) of each rule after the DPD crossings, in the table's order,
from the rule's settings (an attribute of ``RuleSet`` of the same name)."""


def _type_limits(pairs: Sequence[tuple[str, float]], lang: str, other: str = "") -> str:
    """"real estate 70%, vehicle 85%" (房地产 70%，车辆 85%), then ``other`` if given."""
    parts = [f"{k.replace('_', ' ') if lang == 'en' else _COLLATERAL.get(k, k)} {v:.0%}" for k, v in pairs]
    return tr(lang, ", ", "，").join(parts + ([other] if other else []))


def _ltv_limits(rule: object, lang: str) -> str:
    return _type_limits(rule.max_ltv, lang)


def _fall_limits(rule: object, lang: str) -> str:
    """The per-type maximum falls, then the default for the other types (or for every type)."""
    if not rule.max_fall:
        return tr(lang, f"every type {rule.default:.0%}", f"所有类型 {rule.default:.0%}")
    return _type_limits(rule.max_fall, lang, tr(lang, f"other types {rule.default:.0%}", f"其他类型 {rule.default:.0%}"))


def rules_table(rules: RuleSet, lang: str = "zh") -> pd.DataFrame:
    """The enabled rules with their level and condition, the thresholds taken from ``rules``."""
    rows: list[tuple[str, str, str]] = []
    if rules.dpd_crossing.enabled:
        ths = rules.dpd_crossing.thresholds
        for i, t in enumerate(ths):
            nxt = ths[i + 1].over if i + 1 < len(ths) else None
            upto = "" if nxt is None else tr(lang, f" (and ≤ {nxt} days)", f"（且 ≤ {nxt} 天）")
            rows.append((t.rule, t.level, tr(
                lang, f"DPD ≤ {t.over} at the previous month end and > {t.over} now{upto}",
                f"上月末逾期 ≤ {t.over} 天、本月末 > {t.over} 天{upto}")))
    for name, condition in _CONDITIONS.items():
        r = getattr(rules, name)
        if r.enabled:
            rows.append((name, r.level, tr(lang, *condition(r, lang))))
    return pd.DataFrame({
        tr(lang, "Rule", "规则"): [rule_label(r, lang) for r, _, _ in rows],
        tr(lang, "Code", "代码"): [r for r, _, _ in rows],
        tr(lang, "Level", "级别"): [level_label(lv, lang) for _, lv, _ in rows],
        tr(lang, "Fires when", "触发条件"): [c for _, _, c in rows],
    })


def _fmt_value(key: str, value: object, lang: str) -> str:
    if value is None:
        return "—"
    if key in _RATIO_KEYS and isinstance(value, int | float):
        return f"{value:.0%}"
    if key in _MONEY_KEYS and isinstance(value, int | float):
        return f"{value:,.0f}"
    if key == "collateral_type" and isinstance(value, str):
        return value.replace("_", " ") if lang == "en" else _COLLATERAL.get(value, value)
    if key in ("reported", "floor") and isinstance(value, str):
        return _CLASSES.get(value, value) if lang == "zh" else _CLASSES.get(value, value).split(" ", 1)[-1]
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return str(value)


def detail_text(detail: str | None, lang: str = "zh") -> str:
    """The figures that fired a rule (the alert's JSON ``detail``) as a short readable line:
    ``{"dpd": 39, "previous_dpd": 12}`` → "逾期天数 39 · 上月逾期天数 12". Text that is not
    a JSON object is returned as it is."""
    if not detail:
        return ""
    try:
        data = json.loads(detail)
    except ValueError:
        return detail
    if not isinstance(data, dict):
        return detail
    parts = []
    for key, value in data.items():
        pair = _DETAIL_KEYS.get(key)
        name = key if pair is None else pair[0 if lang == "en" else 1]
        parts.append(f"{name} {_fmt_value(key, value, lang)}")
    return " · ".join(parts)


def _alert_names(lang: str) -> dict[str, str]:
    return {
        "as_of": tr(lang, "Month", "月份"),
        "level": tr(lang, "Level", "级别"),
        "rule": tr(lang, "Rule", "规则"),
        "loan_id": tr(lang, "Loan", "贷款编号"),
        "region": tr(lang, "Region", "地区"),
        "detail": tr(lang, "Figures", "触发数据"),
        "created_at": tr(lang, "Evaluated (UTC)", "评估时间（UTC）"),
    }


def alert_table(alerts: pd.DataFrame, region_names: Mapping[str, str], lang: str = "zh") -> pd.DataFrame:
    """The alert list for display and download, from ``data.alerts.read_alerts``: month,
    level, rule, loan, region name, the figures that fired the rule, evaluation time."""
    n = _alert_names(lang)
    out = pd.DataFrame({
        n["as_of"]: pd.to_datetime(alerts["as_of"]).dt.strftime("%Y-%m"),
        n["level"]: [level_label(lv, lang) for lv in alerts["level"]],
        n["rule"]: [rule_label(r, lang) for r in alerts["rule"]],
        n["loan_id"]: alerts["loan_id"].astype(str),
        n["region"]: [region_names.get(c, c) for c in alerts["region_code"]],
        n["detail"]: [detail_text(d, lang) for d in alerts["detail"]],
        n["created_at"]: pd.to_datetime(alerts["created_at"]),
    })
    return out.reset_index(drop=True)


def alert_column_config(lang: str = "zh") -> dict:
    """``column_config`` for :func:`alert_table`."""
    n = _alert_names(lang)
    cc = st.column_config
    return {
        n["level"]: cc.TextColumn(help=tr(lang, "Set per rule in the rule configuration.", "级别按规则配置设定。")),
        n["detail"]: cc.TextColumn(width="large", help=tr(
            lang, "The loan's figures that fired the rule at the month end.", "该贷款在月末触发规则的数据。")),
        n["created_at"]: cc.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    }


def rule_level_chart(
    counts: pd.DataFrame, lang: str = "zh", title: str | None = None, rules: Sequence[str] = (),
    height: int | None = None,
) -> go.Figure:
    """Horizontal bars: alerts per rule, coloured by level (from ``alert_counts`` of one
    month), only the given ``rules`` when some are given; the largest rule on top."""
    fig = go.Figure()
    if rules:
        counts = counts[counts["rule"].isin(list(rules))]
    per_rule = counts.groupby(["rule", "level"], as_index=False)["alerts"].sum()
    order = per_rule.groupby("rule")["alerts"].sum().sort_values().index.tolist()
    for lv in LEVELS:
        rows = per_rule[per_rule["level"] == lv].set_index("rule").reindex(order)
        if rows["alerts"].notna().any():
            fig.add_bar(
                y=[rule_label(r, lang) for r in order], x=rows["alerts"].fillna(0), orientation="h",
                name=level_label(lv, lang), marker_color=LEVEL_COLOURS[lv],
                hovertemplate="%{y}: %{x:,}<extra>" + level_label(lv, lang) + "</extra>",
            )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=tr(lang, "Alerts", "预警数"))
    fig.update_yaxes(tickfont={"size": 11})
    natural = max(110, 80 + 28 * len(order))  # a few rules: thin bars, not one slab
    return style(fig, title, height=min(height, natural) if height else max(260, natural))


def _backtest_names(lang: str) -> dict[str, str]:
    return {
        "rule": tr(lang, "Rule", "规则"),
        "level": tr(lang, "Level", "级别"),
        "alerts": tr(lang, "Alerts raised", "预警次数"),
        "alerted_loans": tr(lang, "Loans alerted", "涉及贷款数"),
        "share_bad": tr(lang, "Reached 90+ DPD in 12m", "12个月内逾期90天以上占比"),
        "base_rate": tr(lang, "Base rate", "基准比率"),
        "lift": tr(lang, "Lift", "提升度"),
    }


def backtest_display(bt: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """The back-test table of ``data.alerts.backtest`` for display and download."""
    n = _backtest_names(lang)
    return pd.DataFrame({
        n["rule"]: [rule_label(r, lang) for r in bt["rule"]],
        n["level"]: [level_label(lv, lang) for lv in bt["level"]],
        n["alerts"]: bt["alerts"].astype("int64"),
        n["alerted_loans"]: bt["alerted_loans"].astype("int64"),
        n["share_bad"]: bt["share_bad"].astype(float),
        n["base_rate"]: bt["base_rate"].astype(float),
        n["lift"]: bt["lift"].astype(float),
    })


def backtest_column_config(lang: str = "zh") -> dict:
    """``column_config`` for :func:`backtest_display`, the definitions as help."""
    n = _backtest_names(lang)
    return number_columns(lang, {
        n["alerts"]: ("localized", "Loan-months the rule fired, over the back-tested months.", "回测月份内规则触发的贷款-月数。"),
        n["alerted_loans"]: ("localized", "Distinct loans the rule fired on.", "触发该规则的不同贷款数。"),
        n["share_bad"]: ("percent", "Alerts whose loan was > 90 DPD at some month end in the next 12 months ÷ alerts raised.",
                         "其后12个月内任一月末逾期超过90天的预警数 ÷ 预警次数。"),
        n["base_rate"]: ("percent", "The same share over every loan-month of the book in the back-tested months (alerted or not).",
                         "回测月份内全部在贷贷款-月（无论是否预警）的同一比例。"),
        n["lift"]: ("%.2f×", "Share reaching 90+ DPD ÷ base rate: how much more often an alerted loan goes bad.",
                    "90天以上逾期占比 ÷ 基准比率：预警贷款变坏的频率是整体的多少倍。"),
    })


def backtest_chart(bt: pd.DataFrame, lang: str = "zh", title: str | None = None) -> go.Figure:
    """Lift per rule (bars, coloured by level) with the no-skill line at 1."""
    rows = bt.sort_values("lift", na_position="first")
    fig = go.Figure(go.Bar(
        y=[rule_label(r, lang) for r in rows["rule"]], x=rows["lift"].fillna(0), orientation="h",
        marker_color=[LEVEL_COLOURS.get(lv, "#6c757d") for lv in rows["level"]],
        customdata=np.column_stack([rows["share_bad"].fillna(np.nan), rows["alerts"]]),
        hovertemplate="%{y}<br>" + tr(lang, "lift", "提升度") + " %{x:.2f}×<br>"
        + tr(lang, "reached 90+ DPD", "逾期90天以上占比") + " %{customdata[0]:.1%}<br>"
        + tr(lang, "alerts", "预警次数") + " %{customdata[1]:,}<extra></extra>",
    ))
    fig.add_vline(x=1, line_dash="dot", line_color="#212529",
                  annotation_text=tr(lang, "no better than chance", "与随机无异"), annotation_position="top")
    fig.update_xaxes(title=tr(lang, "Lift (× base rate)", "提升度（基准比率的倍数）"), rangemode="tozero")
    return style(fig, title, height=max(280, 60 + 30 * len(rows)))
