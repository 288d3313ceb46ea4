"""The figure builders and display helpers of the Overview and Delinquency pages, without Streamlit.

Small frames written out by hand; each test checks what a user would read (which traces,
which values, which labels) and the ``customdata`` a click turns back into a cell.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics.delinquency import DPD_BUCKETS, ROLL_STATES
from components import charts_delinquency as cd

JAN, FEB, MAR = dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31)


def _kpis() -> pd.DataFrame:
    """Three months of a KPI frame (``data.reports.monthly_kpis`` columns that the builders read)."""
    return pd.DataFrame({
        "as_of": [JAN, FEB, MAR],
        "loans": [100, 100, 200],
        "balance": [1000.0, 1000.0, 2000.0],
        "overdue_rate_30_balance": [0.01, 0.02, 0.03],
        "npl_ratio": [0.005, 0.006, 0.007],
        "loans_normal": [90, 80, 180], "balance_normal": [950.0, 900.0, 1800.0],
        "loans_special_mention": [5, 10, 10], "balance_special_mention": [30.0, 50.0, 100.0],
        "loans_substandard": [3, 5, 5], "balance_substandard": [10.0, 30.0, 50.0],
        "loans_doubtful": [1, 3, 3], "balance_doubtful": [5.0, 10.0, 30.0],
        "loans_loss": [1, 2, 2], "balance_loss": [5.0, 10.0, 20.0],
    })


def test_rate_column_and_labels():
    assert cd.rate_column(0, "balance") == "overdue_rate_1_balance"
    assert cd.rate_column(90, "count") == "overdue_rate_90_count"
    with pytest.raises(ValueError, match="threshold"):
        cd.rate_column(60, "count")
    with pytest.raises(ValueError, match="measure"):
        cd.rate_column(30, "amount")
    assert [cd.threshold_label(k) for k in (0, 30, 90)] == ["1+ DPD", "30+ DPD", "90+ DPD"]
    assert cd.class_label("substandard", "zh") == "次级 Substandard"
    assert cd.class_label("substandard", "en") == "Substandard 次级"
    assert cd.state_label("written_off", "en") == "Written off" and cd.state_label("361+", "zh") == "逾期360天以上"
    assert [cd.tab_label(k, "en") for k in cd.DELINQUENCY_TABS][0] == "Overdue trend"


def test_in_window_keeps_the_months_between_the_bounds():
    k = _kpis()
    assert list(cd.in_window(k, FEB, None)["as_of"]) == [FEB, MAR]
    assert list(cd.in_window(k, None, FEB)["as_of"]) == [JAN, FEB]
    assert list(cd.in_window(k, FEB, FEB)["as_of"]) == [FEB]


def test_picked_returns_the_customdata_of_the_first_point():
    assert cd.picked(None) is None
    assert cd.picked({"selection": {"points": []}}) is None
    event = {"selection": {"points": [{"x": 1, "customdata": ["2024-01-31", "1-30"]}, {"customdata": ["x"]}]}}
    assert cd.picked(event) == ("2024-01-31", "1-30")
    assert cd.picked({"points": [{"x": 1}, {"customdata": "2024-02-29"}]}) == ("2024-02-29",)


def test_rate_trend_figure_one_line_per_column_with_month_keys():
    fig = cd.rate_trend_figure(_kpis(), {"overdue_rate_30_balance": "30+", "npl_ratio": "NPL"}, "t", highlight=MAR)
    assert [tr.name for tr in fig.data] == ["30+", "NPL"]
    assert list(fig.data[0].y) == [0.01, 0.02, 0.03]
    assert [list(c) for c in fig.data[1].customdata] == [
        ["2024-01-31", "npl_ratio"], ["2024-02-29", "npl_ratio"], ["2024-03-31", "npl_ratio"]]
    assert fig.layout.yaxis.tickformat == ".2%" and fig.layout.showlegend is True
    assert len(fig.layout.shapes) == 1  # the as-of month marker
    assert cd.rate_trend_figure(_kpis(), {"npl_ratio": "NPL"}).layout.showlegend is False


def test_bucket_figure_stacks_the_overdue_buckets_by_measure():
    dist = pd.DataFrame({
        "as_of": [JAN] * 7,
        "bucket": list(DPD_BUCKETS),
        "loans": [90, 4, 2, 1, 1, 1, 1],
        "balance": [900.0, 40.0, 20.0, 10.0, 10.0, 10.0, 10.0],
        "share_count": [0.9, 0.04, 0.02, 0.01, 0.01, 0.01, 0.01],
        "share_balance": [0.9, 0.04, 0.02, 0.01, 0.01, 0.01, 0.01],
    })
    dist.loc[1, "share_balance"] = 0.05
    fig = cd.bucket_figure(dist, "balance", "en")
    assert [tr.name for tr in fig.data] == ["1-30 DPD", "31-60 DPD", "61-90 DPD", "91-180 DPD", "181-360 DPD", "361+ DPD"]
    assert fig.data[0].y[0] == 0.05 and fig.layout.barmode == "stack"
    assert list(fig.data[0].customdata[0]) == ["2024-01-31", "1-30"]
    assert cd.bucket_figure(dist, "count", "en").data[0].y[0] == 0.04


def test_roll_heatmap_cells_and_click_targets():
    matrix = pd.DataFrame(0.0, index=list(DPD_BUCKETS), columns=list(ROLL_STATES))
    matrix.loc["current", "current"] = 0.97
    matrix.loc["current", "closed"] = 0.03
    matrix.loc["1-30", "31-60"] = 1.0
    matrix.loc["361+"] = np.nan  # nothing in that bucket at m-1
    fig = cd.roll_heatmap(matrix, "zh")
    heat, hits = fig.data
    assert list(heat.y) == [cd.bucket_label(b, "zh") for b in DPD_BUCKETS]
    assert list(heat.x)[-3:] == ["已结清", "已核销", "未报送"]
    assert heat.text[0][0] == "97.0%" and heat.text[6][0] == ""
    assert len(hits.customdata) == 7 * 10
    assert list(hits.customdata[1 * 10 + 2]) == ["1-30", "31-60"]
    assert hits.marker.opacity == 0


def test_vintage_figure_draws_the_picked_cohorts_only():
    curves = pd.DataFrame({
        "cohort": [JAN, JAN, JAN, FEB, FEB],
        "mob": [0, 1, 2, 0, 1],
        "vintage_30_balance": [0.0, 0.01, 0.02, 0.0, np.nan],
        "cum_default_count": [0.0, 0.0, 0.1, 0.0, 0.0],
    })
    fig = cd.vintage_figure(curves, [JAN, FEB], "vintage_30_balance", "zh")
    assert [tr.name for tr in fig.data] == ["2024-01", "2024-02"]
    assert list(fig.data[1].x) == [0]  # the unobserved MOB is left out
    assert list(fig.data[0].customdata[2]) == ["2024-01-31", "2"]
    assert [tr.name for tr in cd.vintage_figure(curves, [FEB], "cum_default_count", "zh").data] == ["2024-02"]


def test_default_cohorts_spread_over_the_options():
    opts = [dt.date(2024, m, 1) for m in range(1, 13)]
    picked = cd.default_cohorts(opts, n=4)
    assert picked[0] == opts[0] and picked[-1] == opts[-1] and len(picked) == 4
    assert cd.default_cohorts(opts[:3], n=6) == opts[:3]
    curves = pd.DataFrame({"cohort": opts, "mob": [5] * 11 + [1]})
    assert opts[-1] not in cd.default_cohorts(opts, n=4, curves=curves)  # too young to draw a curve
    assert cd.cohort_options(pd.DataFrame({"cohort": [FEB, JAN, FEB]})) == [JAN, FEB]


def test_class_mix_figure_shares_of_the_book_without_normal():
    fig = cd.class_mix_figure(_kpis(), "balance", "en")
    assert [tr.name for tr in fig.data] == ["Special mention 关注", "Substandard 次级", "Doubtful 可疑", "Loss 损失"]
    assert list(fig.data[0].y) == pytest.approx([0.03, 0.05, 0.05])
    npl = sum(np.asarray(tr.y) for tr in fig.data[1:])
    assert list(npl) == pytest.approx([0.02, 0.05, 0.05])
    assert list(fig.data[3].customdata[2]) == ["2024-03-31", "loss"]
    by_count = cd.class_mix_figure(_kpis(), "count", "en")
    assert list(by_count.data[0].y) == pytest.approx([0.05, 0.10, 0.05])


def test_class_donut_names_carry_the_shares():
    row = _kpis().iloc[-1]
    fig = cd.class_donut(row, "zh")
    assert list(fig.data[0].labels)[0] == "正常 Normal  90.00%"
    assert list(fig.data[0].values) == [1800.0, 100.0, 50.0, 30.0, 20.0]
    assert "0.70%" in fig.layout.annotations[0].text


def test_loan_frame_labels_classes_and_products():
    loans = pd.DataFrame({
        "loan_id": ["L1", "L2"], "product": ["mortgage", "auto"], "balance": [10.0, 5.0],
        "classification": ["loss", "normal"], "status_next": ["closed", None],
    })
    out = cd.loan_frame(loans, "zh", {"mortgage": "个人住房贷款"})
    assert list(out["classification"]) == ["损失 Loss", "正常 Normal"]
    assert list(out["product"]) == ["个人住房贷款", "auto"]
    assert out["status_next"].iloc[0] == "已结清" and pd.isna(out["status_next"].iloc[1])
    assert list(out["balance"]) == [10.0, 5.0] and list(loans["classification"]) == ["loss", "normal"]


def test_movers_frame_in_display_units():
    movers = pd.DataFrame({
        "region_code": ["440000", "110000"], "name_zh": ["广东省", "北京市"], "short_zh": ["广东", "北京"],
        "name_en": ["Guangdong", "Beijing"], "loans": [10, 20],
        "npl_ratio": [0.02, 0.01], "npl_ratio_prev": [0.01, 0.015], "npl_ratio_change": [0.01, -0.005],
        "balance": [200.0, 100.0], "balance_prev": [100.0, 100.0], "balance_change": [1.0, 0.0],
    })
    rates = cd.movers_frame(movers, "region_code", "npl_ratio", "en", {})
    assert list(rates["name"]) == ["Guangdong", "Beijing"]
    assert list(rates["now"]) == pytest.approx([2.0, 1.0]) and list(rates["change"]) == pytest.approx([1.0, -0.5])
    money = cd.movers_frame(movers, "region_code", "balance", "zh", {})
    assert list(money["name"]) == ["广东", "北京"] and list(money["now"]) == [200.0, 100.0]
    assert list(money["change"]) == pytest.approx([100.0, 0.0])
    products = cd.movers_frame(movers.rename(columns={"region_code": "product"}).assign(product=["auto", "x"]),
                               "product", "npl_ratio", "zh", {"auto": "汽车贷款"})
    assert list(products["name"]) == ["汽车贷款", "x"]
    assert cd.movers_frame(movers.iloc[0:0], "product", "npl_ratio", "zh", {}).empty


def test_provision_frame_labels_and_npl_flag():
    table = pd.DataFrame({
        "class": ["normal", "substandard", "general_reserve", "total"],
        "label": ["", "", "", ""], "name_zh": ["", "", "", ""],
        "loans": [9, 1, 10, 10], "balance": [90.0, 10.0, 100.0, 100.0],
        "rate": [0.0, 0.25, 0.01, 0.035], "provision": [0.0, 2.5, 1.0, 3.5],
    })
    out = cd.provision_frame(table, "zh")
    assert list(out["label"]) == ["正常 Normal", "次级 Substandard", "一般准备 General reserve", "合计 Total"]
    assert list(out["npl"]) == [False, True, False, False]
    assert list(out.columns) == ["class", "label", "npl", "loans", "balance", "rate", "provision"]


def _roll_trend() -> pd.DataFrame:
    """``data.delinquency.roll_trend`` for two months; 181-360 held nothing in either month."""
    rows = []
    for month, k in ((FEB, 1), (MAR, 2)):
        for i, (frm, to) in enumerate(zip(DPD_BUCKETS[:-1], DPD_BUCKETS[1:])):
            empty = frm == "181-360"
            rows.append({
                "as_of": month, "from_state": frm, "to_state": to,
                "loans_from": 0 if empty else 100, "balance_from": 0.0 if empty else 1000.0,
                "rate_count": np.nan if empty else k * (i + 1) / 100,
                "rate_balance": np.nan if empty else k * (i + 1) / 200,
            })
    return pd.DataFrame(rows)


def test_roll_trend_figure_one_line_per_forward_roll():
    fig = cd.roll_trend_figure(_roll_trend(), "count", "zh", "t", highlight=MAR)
    # the roll out of an empty bucket (181-360 → 361+) is left out
    assert [tr.name for tr in fig.data] == [
        "未逾期 → 逾期1-30天", "逾期1-30天 → 逾期31-60天", "逾期31-60天 → 逾期61-90天",
        "逾期61-90天 → 逾期91-180天", "逾期91-180天 → 逾期181-360天"]
    assert list(fig.data[1].y) == [0.02, 0.04]
    assert [list(c) for c in fig.data[1].customdata] == [
        ["2024-02-29", "1-30", "31-60", "100"], ["2024-03-31", "1-30", "31-60", "100"]]
    assert "上月 %{customdata[3]} 笔" in fig.data[1].hovertemplate
    assert fig.layout.yaxis.tickformat == ".0%" and len(fig.layout.shapes) == 1
    by_balance = cd.roll_trend_figure(_roll_trend(), "balance", "en")
    assert list(by_balance.data[0].y) == [0.005, 0.01]
    assert by_balance.data[0].name == "Current → 1-30 DPD" and by_balance.data[1].name == "1-30 → 31-60 DPD"
    with pytest.raises(ValueError, match="measure"):
        cd.roll_trend_figure(_roll_trend(), "amount", "en")
    assert cd.roll_trend_figure(_roll_trend().iloc[0:0], "count", "en").data == ()


def test_cure_rate_lines_by_count_and_by_balance():
    cures = pd.DataFrame({"as_of": [FEB, MAR], "cure_rate_count": [0.25, 0.5], "cure_rate_balance": [0.2, np.nan]})
    fig = cd.rate_trend_figure(cures, cd.cure_names("en"), "t")
    assert [tr.name for tr in fig.data] == ["Cure rate · By count", "Cure rate · By balance"]
    assert list(fig.data[0].y) == [0.25, 0.5] and np.isnan(fig.data[1].y[1])
    assert list(cd.cure_names("zh").values()) == ["逾期治愈率 · 按笔数", "逾期治愈率 · 按余额"]
