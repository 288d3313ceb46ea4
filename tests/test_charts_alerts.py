"""Unit tests of the Early warning page's figure builders and display tables (no app)."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import tomllib

from analytics.early_warning import merge_rule_config, rules_from_config
from components import charts_alerts as ca
from data.alerts import RULES_FILE, load_rules


def _counts() -> pd.DataFrame:
    return pd.DataFrame({
        "as_of": [dt.date(2026, 10, 31)] * 4,
        "rule": ["dpd_1+", "dpd_90+", "score_drop", "inspection_overdue"],
        "level": ["low", "high", "medium", "low"],
        "alerts": [10, 2, 5, 7],
        "loans": [10, 2, 5, 6],
    })


def test_labels():
    assert ca.rule_label("dpd_30+", "zh") == "逾期跨越 30+ 天"
    assert ca.rule_label("dpd_1+", "en") == "DPD crossed 1+"
    assert "五级分类" in ca.rule_label("classification_exception", "en")
    assert ca.rule_label("unknown_rule", "zh") == "unknown_rule"
    assert [ca.level_label(lv, "zh") for lv in ("high", "medium", "low")] == ["高", "中", "低"]


def test_level_totals_by_hand():
    assert ca.level_totals(_counts()) == {"low": 17, "medium": 5, "high": 2}
    assert ca.level_totals(_counts(), ["dpd_1+", "dpd_90+"]) == {"low": 10, "medium": 0, "high": 2}
    assert ca.level_totals(_counts().iloc[0:0]) == {"low": 0, "medium": 0, "high": 0}


def test_rules_table_shows_the_configured_thresholds():
    rules = load_rules()
    table = ca.rules_table(rules, "zh")
    assert table["代码"].tolist() == rules.rule_names()
    assert "50 分" in table.set_index("代码").loc["score_drop", "触发条件"]
    with RULES_FILE.open("rb") as fh:
        config = tomllib.load(fh)
    changed = rules_from_config(merge_rule_config(config, {"score_drop": {"points": 80, "level": "high"},
                                                           "ltv": {"enabled": False}}))
    table = ca.rules_table(changed, "en").set_index("Code")
    assert "≥ 80 points" in table.loc["score_drop", "Fires when"] and table.loc["score_drop", "Level"] == "High"
    assert "ltv" not in table.index


def test_detail_text():
    assert ca.detail_text(json.dumps({"dpd": 39, "previous_dpd": 12}), "zh") == "逾期天数 39 · 上月逾期天数 12"
    assert ca.detail_text(json.dumps({"ltv": 0.8312, "max_ltv": 0.7, "collateral_type": "real_estate"}), "en") == (
        "LTV 83% · maximum 70% · collateral real estate")
    assert ca.detail_text(json.dumps({"reported": "normal", "floor": "special_mention"}), "zh") == (
        "报告分类 正常 normal · 逾期天数下限分类 关注 special mention")
    assert ca.detail_text("not json", "zh") == "not json"
    assert ca.detail_text(None) == ""


def test_alert_table_names_regions_and_levels():
    alerts = pd.DataFrame({
        "alert_id": [1, 2], "as_of": [dt.date(2026, 10, 31)] * 2, "loan_id": ["L1", "L2"],
        "region_code": ["440000", "110000"], "rule": ["dpd_90+", "score_drop"], "level": ["high", "medium"],
        "detail": ['{"dpd": 95, "previous_dpd": 80, "threshold": 90}', '{"drop": 60}'],
        "created_at": [dt.datetime(2026, 11, 1, 8, 0)] * 2,
    })
    out = ca.alert_table(alerts, {"440000": "广东"}, "zh")
    assert out["月份"].tolist() == ["2026-10", "2026-10"]
    assert out["地区"].tolist() == ["广东", "110000"]
    assert out["级别"].tolist() == ["高", "中"]
    assert out.loc[0, "触发数据"].startswith("逾期天数 95")
    assert set(ca.alert_column_config("zh")) <= set(out.columns)


def test_rule_level_chart_stacks_levels_and_filters_rules():
    fig = ca.rule_level_chart(_counts(), "en")
    assert {t.name for t in fig.data} == {"Low", "Medium", "High"}
    assert sum(float(np.nansum(t.x)) for t in fig.data) == 24
    only = ca.rule_level_chart(_counts(), "en", rules=["dpd_1+"])
    assert [t.name for t in only.data] == ["Low"] and list(only.data[0].x) == [10]
    # a cap on the height, and a single rule drawn as a thin bar rather than one slab
    assert ca.rule_level_chart(_counts(), "en", height=120).layout.height == 120
    assert ca.rule_level_chart(_counts(), "en", rules=["dpd_1+"], height=250).layout.height < 150


def _bt() -> pd.DataFrame:
    return pd.DataFrame({
        "rule": ["dpd_90+", "ltv"], "level": ["high", "medium"], "alerts": [100, 50],
        "alerted_loans": [80, 40], "alerts_bad": [90, 5], "share_bad": [0.9, 0.1],
        "base_loan_months": [1000, 1000], "base_bad": [80, 80], "base_rate": [0.08, 0.08],
        "lift": [11.25, 1.25],
    })


def test_backtest_display_and_chart():
    out = ca.backtest_display(_bt(), "zh")
    assert out.columns.tolist() == ["规则", "级别", "预警次数", "涉及贷款数", "12个月内逾期90天以上占比", "基准比率", "提升度"]
    assert out["提升度"].tolist() == pytest.approx([11.25, 1.25])
    assert set(ca.backtest_column_config("zh")) <= set(out.columns)
    lift_zh, lift_en = ca.backtest_column_config("zh")["提升度"], ca.backtest_column_config("en")["Lift"]
    assert lift_zh["type_config"]["format"] == lift_en["type_config"]["format"] == "%.2f×"
    assert lift_zh["help"].startswith("90天以上逾期占比 ÷ 基准比率") and lift_en["help"].startswith("Share reaching 90+ DPD")
    fig = ca.backtest_chart(_bt(), "en")
    assert list(fig.data[0].x) == [1.25, 11.25]  # sorted: the best rule on top


def test_rules_table_shows_the_maximum_fall_per_collateral_type():
    rules = load_rules()
    en = ca.rules_table(rules, "en").set_index("Code").loc["collateral_fall", "Fires when"]
    zh = ca.rules_table(rules, "zh").set_index("代码").loc["collateral_fall", "触发条件"]
    fall = rules.collateral_fall
    assert f"real estate {fall.limit('real_estate'):.0%}" in en and f"vehicle {fall.limit('vehicle'):.0%}" in en
    assert en.endswith(f"other types {fall.default:.0%}")
    assert f"房地产 {fall.limit('real_estate'):.0%}" in zh and f"车辆 {fall.limit('vehicle'):.0%}" in zh
    assert zh.endswith(f"其他类型 {fall.default:.0%}")
    with RULES_FILE.open("rb") as fh:
        config = tomllib.load(fh)
    flat = rules_from_config(merge_rule_config(config, {"collateral_fall": {"max_fall": 0.25}}))
    assert ca.rules_table(flat, "en").set_index("Code").loc["collateral_fall", "Fires when"].endswith("every type 25%")
    assert ca.rules_table(flat, "zh").set_index("代码").loc["collateral_fall", "触发条件"].endswith("所有类型 25%")
    assert ca.detail_text(json.dumps({"fall": 0.401, "max_fall": 0.4, "collateral_type": "vehicle"}), "zh") == (
        "跌幅 40% · 跌幅上限 40% · 押品类型 车辆")
