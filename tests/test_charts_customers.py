"""Unit tests of the Customer value page's figure builders and display tables (no app)."""

import numpy as np
import pandas as pd
import pytest

from analytics.clv import DEFAULT_CLV_PARAMS
from components import charts_customers as cc


def _profiles() -> pd.DataFrame:
    return pd.DataFrame({
        "segment": [0, 1, 2],
        "segment_name": ["high value, low risk", "mid value, rising risk", "low value, delinquent"],
        "action": ["retain with a rate offer", "watch", "collect"],
        "customers": [2, 3, 5],
        "mean_clv": [100.0, 10.0, -20.0],
        "mean_balance": [1000.0, 500.0, 300.0],
        "mean_tenure_months": [40.0, 20.0, 10.0],
        "mean_products_held": [2.0, 1.0, 1.0],
        "mean_worst_dpd_12m": [0.0, 20.0, 120.0],
        "mean_score_trend_6m": [5.0, -40.0, -10.0],
    })


def _customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"C{i}" for i in range(10)],
        "clv": [90.0, 110.0, 5.0, 10.0, 15.0, -10.0, -20.0, -30.0, np.nan, -20.0],
        "balance": [900.0, 1100.0, 400.0, 500.0, 600.0, 200.0, 300.0, 400.0, 250.0, 350.0],
        "tenure_months": [40, 40, 20, 20, 20, 10, 10, 10, 10, 10],
        "products_held": [2, 2, 1, 1, 1, 1, 1, 1, 1, 1],
        "worst_dpd_12m": [0, 0, 20, 20, 20, 120, 120, 120, 120, 120],
        "score_trend_6m": [5.0, 5.0, -40.0, -40.0, -40.0, -10.0, -10.0, -10.0, np.nan, -10.0],
        "segment": [0, 0, 1, 1, 1, 2, 2, 2, 2, 2],
    })


def test_segment_and_action_labels():
    assert cc.segment_label("high value, low risk", "zh") == "高价值 · 低风险"
    assert cc.segment_label("mid value, low risk, small balance (2)", "zh") == "中等价值 · 低风险 · 小额（2）"
    assert cc.segment_label("high value, low risk", "en") == "high value, low risk"
    assert cc.segment_label("something new", "zh") == "something new"
    assert cc.action_label("cross-sell", "zh") == "交叉销售"
    assert cc.action_label("collect", "en") == "collect"


def test_clv_summary_by_hand():
    s = cc.clv_summary(_customers())
    assert s["customers"] == 10 and s["valued"] == 9
    assert s["total_clv"] == pytest.approx(150.0)
    assert s["median_clv"] == pytest.approx(5.0)
    assert s["negative_share"] == pytest.approx(4 / 9)
    empty = cc.clv_summary(_customers().assign(clv=np.nan))
    assert empty["valued"] == 0 and np.isnan(empty["median_clv"])


def test_clv_histogram_counts_every_valued_customer_once_per_segment():
    fig = cc.clv_histogram(_customers(), _profiles(), "zh", bins=5, clip=0.0)
    assert [t.name for t in fig.data] == ["高价值 · 低风险", "中等价值 · 风险上升", "低价值 · 逾期"]
    assert [sum(t.y) for t in fig.data] == [2, 3, 4]  # the NaN CLV is left out
    assert fig.layout.barmode == "stack"
    # with clipping, the extremes land in the end bins, never outside
    clipped = cc.clv_histogram(_customers(), _profiles(), "en", bins=4, clip=0.2)
    assert sum(sum(t.y) for t in clipped.data) == 9
    assert "or less" in clipped.data[0].customdata[0] and "or more" in clipped.data[0].customdata[-1]


def test_scatter_sample_is_deterministic_and_keeps_every_segment():
    big = pd.DataFrame({"customer_id": range(10_000), "segment": [0] * 9_900 + [1] * 100,
                        "clv": 1.0, "balance": 1.0})
    a = cc.scatter_sample(big, n=1000, min_per_segment=50, seed=1)
    b = cc.scatter_sample(big, n=1000, min_per_segment=50, seed=1)
    assert a.equals(b)
    assert (a["segment"] == 1).sum() == 50 and (a["segment"] == 0).sum() == 990
    assert a.index.is_monotonic_increasing
    small = _customers()
    assert cc.scatter_sample(small, n=100) is small


def test_segment_scatter_carries_the_segment_of_every_point():
    fig = cc.segment_scatter(_customers(), _profiles(), "balance", "zh", selected=1)
    points, centres = fig.data[:3], fig.data[3]
    assert [len(t.x) for t in points] == [2, 3, 5]
    for seg, trace in enumerate(points):
        assert {int(row[0]) for row in trace.customdata} == {seg}
    assert [int(row[0]) for row in centres.customdata] == [0, 1, 2]
    assert list(centres.y) == [100.0, 10.0, -20.0]
    assert fig.layout.xaxis.type == "log"
    assert points[1].marker.opacity > points[0].marker.opacity  # the selected segment stands out
    lin = cc.segment_scatter(_customers(), _profiles(), "worst_dpd_12m", "en")
    assert lin.layout.xaxis.type == "linear" and "Worst DPD" in lin.layout.xaxis.title.text
    with pytest.raises(ValueError, match="unknown x feature"):
        cc.segment_scatter(_customers(), _profiles(), "clv")


def test_selected_segment_from_a_selection_event():
    def ev(*cds):
        return {"selection": {"points": [{"customdata": cd} for cd in cds]}}

    assert cc.selected_segment(ev(["2", "C1"], ["2", "C2"], ["1", "C3"])) == 2
    assert cc.selected_segment(ev([1, "x"], [0, "y"])) == 0  # a tie → the lower number
    assert cc.selected_segment(ev(3)) == 3
    assert cc.selected_segment({"selection": {"points": []}}) is None
    assert cc.selected_segment(None) is None
    assert cc.selected_segment(ev(["not a number"])) is None


def test_profile_table_by_hand():
    zh = cc.profile_table(_profiles(), "zh")
    assert list(zh.columns[:4]) == ["#", "客群", "建议措施", "客户数"]
    assert zh["占比"].tolist() == pytest.approx([0.2, 0.3, 0.5])
    assert zh["CLV合计"].tolist() == pytest.approx([200.0, 30.0, -100.0])
    assert zh["建议措施"].tolist() == ["利率优惠留存", "加强监测", "催收"]
    en = cc.profile_table(_profiles(), "en")
    assert "Suggested action" in en.columns and en["Segment"][0] == "high value, low risk"
    config = cc.profile_column_config("zh", "CNY")
    assert set(config) <= set(zh.columns)


def test_members_table_renames_and_keeps_masked_values():
    members = pd.DataFrame({
        "customer_id": ["C1"], "name": ["张**"], "phone": ["138****5678"], "clv": [1.0], "balance": [2.0],
        "loans": [1], "products_held": [1], "tenure_months": [3], "worst_dpd_12m": [0], "score_trend_6m": [np.nan],
    })
    out = cc.members_table(members, None, "zh")
    assert out.loc[0, "姓名（脱敏）"] == "张**" and out.loc[0, "电话（脱敏）"] == "138****5678"
    config = cc.members_column_config("en", "USD")
    assert set(cc.members_column_config("zh")) <= set(out.columns)
    assert config["CLV"]["type_config"]["format"] == config["Balance"]["type_config"]["format"] == "dollar"
    assert config["CLV"]["help"].startswith("Risk-adjusted") and config["Balance"]["help"] is None
    # contacts from masked_contacts are matched by customer, the members' order kept
    rows = pd.concat([members, members.assign(customer_id="C0", clv=0.5)]).drop(columns=["name", "phone"])
    contacts = pd.DataFrame({"customer_id": ["C0", "C1"], "name": ["李*", "张**"], "phone": ["", "138****5678"]})
    out = cc.members_table(rows, contacts, "en")
    assert out["Customer"].tolist() == ["C1", "C0"] and out["Name (masked)"].tolist() == ["张**", "李*"]


def test_silhouette_table_and_chart_mark_the_chosen_k():
    sil = {3: 0.31, 4: 0.42, 5: 0.40}
    table = cc.silhouette_table(sil, 4, "en")
    assert table["k"].tolist() == [3, 4, 5] and table["Chosen"].tolist() == [False, True, False]
    fig = cc.silhouette_chart(sil, 4, "en")
    colours = list(fig.data[0].marker.color)
    assert colours[1] != colours[0] == colours[2]


def test_clv_definition_states_the_parameters():
    zh = cc.clv_definition(DEFAULT_CLV_PARAMS, "zh", "interim PD")
    assert "8%" in zh and "2.5%" in zh and "0.5%" in zh and "interim PD" in zh and "轮廓系数" in zh
    en = cc.clv_definition(DEFAULT_CLV_PARAMS, "en")
    assert "silhouette" in en and "3…8" in en


def test_money_format():
    assert cc.money_format("CNY") == "yen" and cc.money_format("USD") == "dollar"
    assert cc.money_format("GBP") == "localized"
