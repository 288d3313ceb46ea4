"""AppTest: the Regional risk page (区域风险) on a small generated store.

The map (a folium component) cannot be clicked in AppTest; the province picker
``region_pick`` is the same selection. Checked: the page renders, the metric picker changes
the ranked table, picking a province opens its panel (every tab), the global filters narrow
the figures, and a regional head sees and can open only Guangdong.
"""

import json
import math

import pytest

from app_helpers import open_page, widget

PANEL_TABS = {"trend": "走势", "products": "产品结构", "branches": "网点", "loans": "风险最高贷款"}


def _open(username: str = "manager"):
    return open_page("pages/regional.py", username)


def _table(at, column: str):
    """The first table on the page with this column."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a column {column!r}: {[list(d.value.columns) for d in at.dataframe]}")


def _ranked(at):
    return _table(at, "排名")


def _rank_bars(at) -> dict:
    """The trace of the ranked bar chart (the only plotly chart before a panel opens)."""
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    bars = [t for c in charts for t in c["data"] if t.get("type") == "bar" and "排名" in t.get("hovertemplate", "")]
    assert len(bars) == 1, charts
    bars = bars[0]
    if isinstance(bars["y"], dict):  # plotly may ship numbers as a typed array
        import base64

        import numpy as np
        bars["y"] = np.frombuffer(base64.b64decode(bars["y"]["bdata"]), dtype=bars["y"]["dtype"]).tolist()
    return bars


def test_renders_and_the_metric_picker_reorders_the_table(app_env):
    at = _open()
    assert at.title[0].value.startswith("区域风险")
    ranked = _ranked(at)
    assert len(ranked) > 20 and ranked["排名"].iloc[0] == 1
    dpd = ranked["30+ 逾期率"].tolist()
    assert dpd == sorted(dpd, reverse=True)  # worst first
    assert at.info and "点击省份" in at.info[0].value  # no panel before a province is chosen
    bars = _rank_bars(at)  # the ranked bars are drawn before any province is chosen
    ranked_dpd = ranked.dropna(subset=["30+ 逾期率"])
    assert list(bars["x"]) == ranked_dpd["地区"].tolist()  # same regions, same order as the table
    assert bars["y"] == pytest.approx(ranked_dpd["30+ 逾期率"].tolist())
    assert "逾期30天以上贷款余额 ÷ 月末在贷余额" in bars["hovertemplate"]  # the definition on hover
    widget(at.selectbox, "region_metric").set_value("balance").run()
    assert not at.exception, at.exception
    by_balance = _ranked(at)
    bal = by_balance["贷款余额（¥万）"].tolist()
    assert bal == sorted(bal, reverse=True)
    assert by_balance["地区"].tolist() != ranked["地区"].tolist()
    widget(at.selectbox, "region_metric").set_value("collateral").run()
    cov = _ranked(at)["抵押覆盖率"].dropna().tolist()
    assert cov == sorted(cov)  # higher coverage is safer: the lowest ranks first
    widget(at.selectbox, "region_metric").set_value("el").run()  # computed loan by loan, this month only
    assert not at.exception, at.exception
    el = _ranked(at)["预期信用损失（¥万）"].tolist()
    assert all(v > 0 and not math.isnan(v) for v in el)
    assert el == sorted(el, reverse=True)


def test_filters_narrow_the_table(app_env):
    at = _open()
    total = _ranked(at)["贷款余额（¥万）"].sum()
    widget(at.multiselect, "product").set_value(["mortgage"]).run()
    assert not at.exception, at.exception
    mortgage = _ranked(at)["贷款余额（¥万）"].sum()
    assert 0 < mortgage < total
    widget(at.multiselect, "region").set_value(["440000", "110000"]).run()
    assert sorted(_ranked(at)["代码"]) == ["110000", "440000"]


def test_picking_a_province_opens_its_panel(app_env):
    at = _open()
    pick = widget(at.selectbox, "region_pick")
    assert "广东" in pick.options
    pick.set_value("440000").run()
    assert not at.exception, at.exception
    assert any("广东" in h.value and "区域详情" in h.value for h in at.subheader)
    labels = " ".join(m.label for m in at.metric)
    for part in ("贷款余额", "30+", "不良贷款率", "抵押覆盖率"):
        assert part in labels
    assert [c.key for c in at.get("plotly_chart")] == ["region_rank_chart", "region_trend_chart"]  # the trend tab
    for tab, column in (("products", "余额占比"), ("branches", "网点"), ("loans", "逾期天数")):
        at.session_state["region_panel_tab"] = PANEL_TABS[tab]
        at.run()
        assert not at.exception, at.exception
        assert len(_table(at, column)) > 0
    loans = _table(at, "逾期天数")["逾期天数"].tolist()
    assert loans == sorted(loans, reverse=True)  # worst first


def test_regional_head_sees_and_opens_only_guangdong(app_env):
    at = _open("guangdong")
    ranked = _ranked(at)
    assert ranked["代码"].tolist() == ["440000"]
    pick = widget(at.selectbox, "region_pick")
    assert pick.options == ["广东"] and pick.value == "440000"  # their one province is open
    assert any("广东" in h.value for h in at.subheader)
    # the worst loans of their panel are Guangdong's; the map shows no other province's figures
    at.session_state["region_panel_tab"] = PANEL_TABS["loans"]
    at.run()
    assert not at.exception, at.exception
    assert all(b.startswith("BR440000") for b in _table(at, "逾期天数")["网点"])




def test_rank_figure_by_hand():
    """Worst first, regions without a value left out, changes in pp, the definition in English."""
    import pandas as pd

    from components import regional_panel as rp

    t = pd.DataFrame({"region_code": ["440000", "110000", "310000"], "balance": [1e9, 2e9, 3e9], "loans": [3, 4, 5],
                      "overdue_rate_30_balance": [0.02, 0.05, None], "overdue_rate_90_balance": [0.01] * 3,
                      "npl_ratio": [0.02] * 3, "overdue_rate_30_balance_mom": [0.001, -0.002, 0.0]})
    names = {"440000": "Guangdong", "110000": "Beijing", "310000": "Shanghai"}
    bar = rp.rank_figure(t, rp.metric_spec("dpd30"), names, "en").data[0]
    assert list(bar.x) == ["Beijing", "Guangdong"] and list(bar.y) == pytest.approx([0.05, 0.02])
    assert [c[0] for c in bar.customdata] == ["5.00%", "2.00%"]
    assert "dpd &gt; 30 ÷ Σ balance of the active book at" in bar.hovertemplate and "rank" in bar.hovertemplate
    mom = rp.rank_figure(t, rp.metric_spec("dpd30_mom"), names, "en").data[0]
    assert list(mom.x) == ["Guangdong", "Shanghai", "Beijing"] and list(mom.y) == pytest.approx([0.1, 0.0, -0.2])
    cov = rp.rank_figure(t.assign(collateral_coverage=[1.5, 0.8, 1.2]), rp.metric_spec("collateral"), names, "zh").data[0]
    assert list(cov.x) == ["Beijing", "Shanghai", "Guangdong"]  # lowest coverage is the worst
