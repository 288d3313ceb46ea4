"""AppTest: the Delinquency page (逾期分析) on a small generated store.

Every tab renders; the threshold and count/balance switches change the shown rate; the
cohort picker changes the vintage chart; the global filters narrow the figures; a
drill-down lists the loans behind a cell (set as a click would set it), and a regional
head sees only Guangdong's loans in every drill-down. The shown numbers are checked
against the data layer (``data.reports.monthly_kpis``) read straight from the store.
"""

import base64
import datetime as dt
import json
from dataclasses import replace

import numpy as np
import pytest

from app_helpers import metric, open_page, widget
from analytics.delinquency import DEFINITIONS
from components.charts_delinquency import DELINQUENCY_TABS, roll_label, tab_label
from data import delinquency as dd
from data.engine import make_engine
from data.read import Filters, Scope
from data.reports import monthly_kpis

PAGE = "pages/delinquency.py"


def _page(user: str = "manager"):
    return open_page(PAGE, user)


def _open(at, tab: str):
    at.session_state["dq_tab"] = tab_label(tab, "zh")
    at.run()
    assert not at.exception, at.exception
    return at


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def _spec(at, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def _chart(at, title_part: str) -> dict:
    """The plotly spec of the chart whose title holds ``title_part``."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    for spec in specs:
        if title_part in spec["layout"].get("title", {}).get("text", ""):
            return spec
    raise AssertionError(f"no chart titled {title_part!r}: {[s['layout'].get('title') for s in specs]}")


def _loan_table(at):
    """The drill-down loan list (the dataframe with a loan_id column)."""
    frames = [d.value for d in at.dataframe if "loan_id" in d.value.columns]
    assert frames, "no loan list shown"
    return frames[0]


def test_every_tab_renders_a_chart(app_env):
    at = _page()
    assert [t.label for t in at.tabs] == [tab_label(k, "zh") for k in DELINQUENCY_TABS]
    for tab in DELINQUENCY_TABS:
        _open(at, tab)
        # the roll tab: the matrix, the roll-forward trend and the cure rate
        assert len(at.get("plotly_chart")) == (3 if tab == "roll" else 1), tab
    # the classification tab: provisions against the minimums, the provision table, exceptions
    labels = " ".join(m.label for m in at.metric)
    assert "拨备覆盖率" in labels and "拨贷比" in labels
    assert any("正常 Normal" in list(d.value.get("label", [])) for d in at.dataframe)


def test_rate_matches_the_data_layer_and_switches_change_it(app_env):
    at = _page()
    with make_engine(app_env).connect() as conn:
        kpis = monthly_kpis(conn, Scope.all(), Filters())
    last = kpis.iloc[-1]
    rate = metric(at, "30+ DPD")
    assert rate.value == f"{last['overdue_rate_30_balance']:.2%}"
    assert _count(metric(at, "逾期超过30天笔数").value) == last["loans_dpd_gt_30"]

    widget(at.button_group, "dq_threshold").set_value(90).run()
    assert metric(at, "90+ DPD").value == f"{last['overdue_rate_90_balance']:.2%}"
    assert last["overdue_rate_90_balance"] != last["overdue_rate_30_balance"]

    widget(at.button_group, "dq_measure").set_value("count").run()
    assert metric(at, "90+ DPD").value == f"{last['overdue_rate_90_count']:.2%}"
    assert last["overdue_rate_90_count"] != last["overdue_rate_90_balance"]
    assert "按笔数" in metric(at, "90+ DPD").label


def test_cohort_picker_changes_the_vintage_chart(app_env):
    at = _open(_page(), "vintage")
    picker = widget(at.multiselect, "dq_cohorts")
    shown = [d["name"] for d in _spec(at)["data"]]
    assert shown and len(shown) == len(picker.value)
    first = picker.value[0]
    picker.set_value([first]).run()
    assert not at.exception, at.exception
    after = [d["name"] for d in _spec(at)["data"]]
    assert after == [f"{first:%Y-%m}"] != shown
    widget(at.button_group, "dq_vintage_metric").set_value("cum_default_count").run()
    assert not at.exception, at.exception


def test_filters_narrow_the_figures(app_env):
    at = _page()
    n_all = _count(metric(at, "逾期超过30天笔数").value)
    widget(at.multiselect, "product").set_value(["credit_card"]).run()
    n_card = _count(metric(at, "逾期超过30天笔数").value)
    assert 0 < n_card < n_all
    # the drill-down follows the filters too
    month = at.session_state["as_of"]
    at.session_state["dq_cell_trend"] = (f"{month}-28",)  # any day of the month
    at.run()
    loans = _loan_table(at)
    assert set(loans["product"]) == {"信用卡"}
    assert (loans["dpd"] > 30).all()


def test_drill_downs_list_the_loans_behind_a_cell(app_env):
    at = _page()
    month = at.session_state["as_of"]
    at.session_state["dq_cell_trend"] = (f"{month}-01",)
    at.run()
    n_over = _count(metric(at, "逾期超过30天笔数").value)
    assert f"共 {n_over:,} 笔" in [c.value for c in at.caption]
    assert {"dq_trend_loans-csv", "dq_trend_loans-xlsx"} <= {b.key for b in at.get("download_button")}

    _open(at, "roll")
    at.session_state["dq_cell_roll"] = ("current", "1-30")
    at.run()
    loans = _loan_table(at)
    assert len(loans) and (loans["dpd"] == 0).all() and (loans["dpd_next"].between(1, 30)).all()


def test_regional_head_sees_only_guangdong(app_env):
    at = _page("guangdong")
    month = at.session_state["as_of"]
    at.session_state["dq_cell_trend"] = (f"{month}-01",)
    at.run()
    assert set(_loan_table(at)["region_code"]) == {"440000"}

    _open(at, "buckets")
    at.session_state["dq_cell_bucket"] = (f"{month}-01", "current")
    at.run()
    assert set(_loan_table(at)["region_code"]) == {"440000"}

    _open(at, "classification")
    at.session_state["dq_cell_class"] = (f"{month}-01", "normal")
    at.run()
    assert set(_loan_table(at)["region_code"]) == {"440000"}


def test_provisions_from_the_kpi_frame_match_the_classification_reads(demo_store):
    import pandas.testing as pdt

    from data import classification as dc
    from data import overview as ov

    scope, filters = Scope.of(["440000", "110000"]), Filters(products=("mortgage", "business"))
    with make_engine(demo_store).connect() as conn:
        kpis = monthly_kpis(conn, scope, filters)
        month = kpis["as_of"].iloc[-2]
        table, check = ov.provisions_at(kpis, month)
        pdt.assert_frame_equal(table, dc.provision_table(conn, scope, filters, month))
        pdt.assert_frame_equal(check, dc.provision_check(conn, scope, replace(filters, as_of=month)))
    empty_table, empty_check = ov.provisions_at(kpis.iloc[0:0], month)
    assert empty_check.empty and list(empty_table["provision"]) == [0.0] * 7


def _values(v) -> list:
    """A plotly JSON array: a list, or numpy's typed array ({"dtype", "bdata"} in base64)."""
    if isinstance(v, dict) and "bdata" in v:
        return list(np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).astype(float))
    return list(v)


def _window(at) -> tuple[dt.date, dt.date]:
    first, last = widget(at.select_slider, "window").value
    return dt.date.fromisoformat(f"{first}-01"), dt.date.fromisoformat(f"{last}-01")


def _trend_reads(store: str, filters: Filters):
    with make_engine(store).connect() as conn:
        return dd.roll_trend(conn, Scope.all(), filters), dd.cure_rates(conn, Scope.all(), filters)


def _check_against(at, trend, cures, measure: str = "balance") -> None:
    """The roll-forward and cure charts draw exactly the data layer's rates."""
    spec = _chart(at, "向后迁徙率")
    assert [d["name"] for d in spec["data"]] == [
        roll_label(f, t, "zh") for f, t in trend[["from_state", "to_state"]].drop_duplicates().itertuples(index=False)
        if trend[(trend["from_state"] == f) & (trend["to_state"] == t)][f"rate_{measure}"].notna().any()
    ]
    for d in spec["data"]:
        month, frm, to, _ = d["customdata"][0]
        rows = trend[(trend["from_state"] == frm) & (trend["to_state"] == to)].sort_values("as_of")
        assert str(rows["as_of"].iloc[0]) == month
        assert _values(d["y"]) == pytest.approx(list(rows[f"rate_{measure}"].astype(float)), nan_ok=True)
    cure = _chart(at, "逾期治愈率")
    assert [d["name"] for d in cure["data"]] == ["逾期治愈率 · 按笔数", "逾期治愈率 · 按余额"]
    assert _values(cure["data"][0]["y"]) == pytest.approx(list(cures["cure_rate_count"]), nan_ok=True)
    assert _values(cure["data"][1]["y"]) == pytest.approx(list(cures["cure_rate_balance"]), nan_ok=True)


def test_roll_trend_and_cure_rate_match_the_data_layer_and_follow_the_filters(app_env):
    at = _open(_page(), "roll")
    start, end = _window(at)
    trend, cures = _trend_reads(app_env, Filters(start=start, end=end))
    assert len(cures) == 23 and trend["rate_balance"].notna().any()  # 24 months: 23 pairs m-1 → m
    _check_against(at, trend, cures)
    # the definitions are one hover away, with both names
    helps = {s.value: s.help for s in at.subheader}
    assert any("迁徙率" in k and DEFINITIONS["roll_rate"]["zh"] in (h or "") and DEFINITIONS["roll_rate"]["en"] in (h or "")
               for k, h in helps.items())
    assert any("逾期治愈率" in k and DEFINITIONS["cure_rate"]["zh"] in (h or "") for k, h in helps.items())

    # count instead of balance: the roll lines switch, the cure chart keeps both
    widget(at.button_group, "dq_measure").set_value("count").run()
    _check_against(at, trend, cures, "count")

    # a product filter narrows both charts to the data layer's figures for that product
    widget(at.multiselect, "product").set_value(["credit_card"]).run()
    card_trend, card_cures = _trend_reads(app_env, Filters(start=start, end=end, products=("credit_card",)))
    _check_against(at, card_trend, card_cures, "count")
    assert (card_cures["loans_delinquent"] < cures["loans_delinquent"]).all()
    assert list(card_cures["cure_rate_count"]) != list(cures["cure_rate_count"])

    # a shorter trend window shortens them
    months = widget(at.select_slider, "window").options
    widget(at.select_slider, "window").set_value((months[-6], months[-1])).run()
    assert not at.exception, at.exception
    assert len(_chart(at, "逾期治愈率")["data"][0]["x"]) == 6
    assert all(len(d["x"]) == 6 for d in _chart(at, "向后迁徙率")["data"])


def test_a_click_on_the_roll_trend_lists_the_loans_that_rolled(app_env):
    at = _open(_page(), "roll")
    month = at.session_state["as_of"]
    at.session_state["dq_cell_roll_trend"] = (f"{month}-01", "1-30", "31-60")
    at.run()
    assert not at.exception, at.exception
    loans = _loan_table(at)
    assert len(loans) and loans["dpd"].between(1, 30).all() and loans["dpd_next"].between(31, 60).all()
    assert {"dq_roll_trend_loans-csv", "dq_roll_trend_loans-xlsx"} <= {b.key for b in at.get("download_button")}
