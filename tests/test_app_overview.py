"""AppTest: first run on an empty store, login, and the overview (总览).

The overview's cards (value, change, sparkline, link), trends, five-level mix and movers
on a small generated store, checked against the data layer read straight from the store;
plus the reads of ``data.overview`` behind them.
"""

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st

from data import overview as ov
from data.engine import make_engine
from data.read import Filters, Scope
from data.reports import monthly_kpis
from app_helpers import app_test, metric, signed_in_app, widget


def test_login_rejects_a_wrong_password(app_env):
    at = app_test()
    at.run()
    at.text_input[0].input("manager")
    at.text_input[1].input("nope")
    at.button[0].click()
    at.run()
    assert at.error and "Wrong user or password" in at.error[0].value
    assert not at.metric


def test_overview_shows_headline_kpis(app_env):
    at = signed_in_app("manager")
    labels = " ".join(m.label for m in at.metric)
    for part in ("贷款余额", "贷款笔数", "30+", "90+", "不良贷款率"):
        assert part in labels
    assert metric(at, "贷款笔数").value.replace(",", "").isdigit()


def test_regional_head_sees_less_than_manager(app_env):
    boss = signed_in_app("manager")
    head = signed_in_app("guangdong")
    n_all = int(metric(boss, "贷款笔数").value.replace(",", ""))
    n_gd = int(metric(head, "贷款笔数").value.replace(",", ""))
    assert 0 < n_gd < n_all
    assert widget(head.multiselect, "region").options == ["广东 Guangdong"]


def test_filters_narrow_and_language_switch(app_env):
    at = signed_in_app("manager")
    n_all = int(metric(at, "贷款笔数").value.replace(",", ""))
    widget(at.multiselect, "product").set_value(["mortgage"]).run()
    n_mortgage = int(metric(at, "贷款笔数").value.replace(",", ""))
    assert 0 < n_mortgage < n_all
    widget(at.button_group, "lang").set_value("en").run()
    assert any("Loans" == m.label.split(" ")[0] for m in at.metric)


def test_first_run_generates_the_demo(monkeypatch, tmp_path):
    """An empty store is filled on first run (small portfolio to keep the test fast)."""
    import components.first_run as fr

    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    monkeypatch.setenv("DAIHOU_DB_URL", url)
    monkeypatch.setattr(fr, "DEMO_LOANS", 300)
    monkeypatch.setattr(fr, "DEMO_MONTHS", 12)
    at = app_test()
    at.run()
    assert not at.exception, at.exception
    with make_engine(url).connect() as c:
        assert c.execute(sa.text("select count(*) from loans")).scalar() == 300


# --- the overview page ------------------------------------------------------------------


def _registered_pages() -> set[str]:
    """The url_path of every page in app.py's ``pages`` list (as the browser test reads them)."""
    import re
    from pathlib import Path

    source = (Path(__file__).resolve().parent.parent / "app.py").read_text(encoding="utf-8")
    return set(re.findall(r'url_path="([^"]+)"', source))


def _kpis(url: str, scope: Scope = Scope.all(), filters: Filters = Filters()) -> pd.DataFrame:
    with make_engine(url).connect() as conn:
        return monthly_kpis(conn, scope, filters)


def test_cards_match_the_data_layer_and_link_to_their_pages(app_env):
    at = signed_in_app("manager")
    kpis = _kpis(app_env)
    last, prev = kpis.iloc[-1], kpis.iloc[-2]
    assert metric(at, "1+ 逾期率").value == f"{last['overdue_rate_1_balance']:.2%}"
    assert metric(at, "30+ 逾期率").value == f"{last['overdue_rate_30_balance']:.2%}"
    assert metric(at, "不良贷款率").value == f"{last['npl_ratio']:.2%}"
    assert metric(at, "拨备覆盖率").value == f"{last['provision_coverage']:.1%}"
    assert metric(at, "贷款笔数").delta == f"{int(last['loans'] - prev['loans']):+,}"
    npl_delta = (last["npl_ratio"] - prev["npl_ratio"]) * 100
    assert metric(at, "不良贷款率").delta == f"{npl_delta:+.2f} pp"
    labels = " ".join(m.label for m in at.metric)
    for part in ("贷款损失准备", "高风险预警"):
        assert part in labels
    assert metric(at, "高风险预警").value == "—"  # no month evaluated yet
    # the coverage card is read against its minimum; every card links to a page
    captions = " ".join(c.value for c in at.caption)
    assert "≥ 150%" in captions and "≥ 2.5%" in captions
    links = [p.page for p in at.get("page_link")]
    targets = ["regional"] * 2 + ["delinquency"] * 5 + ["stress", "alerts"]  # card order
    registered = _registered_pages()
    assert links == [p for p in targets if p in registered]  # the others show their text, unlinked


def test_trend_and_mix_charts(app_env):
    import json

    at = signed_in_app("manager")
    trend, mix = (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
    assert len(trend["data"]) == 4
    assert len(trend["data"][0]["x"]) == len(_kpis(app_env))  # the whole trend window
    assert [round(v, 2) for v in mix["data"][0]["values"]][0] > 0
    # a narrower window shortens the trend
    months = widget(at.select_slider, "window").options
    widget(at.select_slider, "window").set_value((months[-6], months[-1])).run()
    trend = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(trend["data"][0]["x"]) == 6


def test_movers_follow_the_metric_and_the_filters(app_env):
    at = signed_in_app("manager")
    region, product = (d.value for d in at.dataframe)
    assert len(region) == 5 and len(product) == 5
    assert (region["change"].abs().diff().dropna() <= 1e-12).all()  # largest moves first
    widget(at.selectbox, "ov_mover_metric").set_value("balance").run()
    region_bal = at.dataframe[0].value
    assert list(region_bal["name"]) != list(region["name"]) or not region_bal["now"].equals(region["now"])
    assert (region_bal["now"] > 1000).all()  # money, not rates
    widget(at.multiselect, "product").set_value(["mortgage"]).run()
    assert list(at.dataframe[1].value["name"]) == ["个人住房贷款"]


def test_regional_head_movers_are_guangdong_only(app_env):
    at = signed_in_app("guangdong")
    region = at.dataframe[0].value
    assert list(region["name"]) == ["广东"]
    n_gd = int(metric(at, "贷款笔数").value.replace(",", ""))
    kpis = _kpis(app_env, Scope.of(["440000"]))
    assert n_gd == kpis["loans"].iloc[-1]


def test_high_alerts_card_after_the_month_is_evaluated(app_env):
    from data.alert_runs import ensure_month_evaluated

    eng = make_engine(app_env)
    month = _kpis(app_env)["as_of"].iloc[-1]
    with eng.connect() as conn:
        ensure_month_evaluated(conn, Scope.all(), month)
        expected = ov.high_alerts(conn, Scope.all(), Filters())
    st.cache_data.clear()  # this test changed the store behind the app's cache (tests only)
    at = signed_in_app("manager")
    n = expected.set_index("as_of")["high_alerts"].get(month)
    assert n is not None
    assert metric(at, "高风险预警").value == f"{int(n):,}"


# --- the reads behind it (data.overview) ------------------------------------------------


def test_movers_are_month_on_month_changes_of_the_group_kpis(demo_store):
    with make_engine(demo_store).connect() as conn:
        kpis = monthly_kpis(conn, Scope.all(), Filters(), by=("product",))
        month = kpis["as_of"].max()
        moved = ov.movers(conn, Scope.all(), Filters(), month)["product"]
        regions = ov.movers(conn, Scope.of(["440000"]), Filters(), month)["region_code"]
        by_region = monthly_kpis(conn, Scope.all(), Filters(as_of=month), by=("region_code",))
        all_regions = ov.movers(conn, Scope.all(), Filters(), month)["region_code"]
    prev = sorted(kpis["as_of"].unique())[-2]
    now, before = kpis[kpis["as_of"] == month].set_index("product"), kpis[kpis["as_of"] == prev].set_index("product")
    for _, row in moved.iterrows():
        p = row["product"]
        assert row["npl_ratio"] == pytest.approx(now.loc[p, "npl_ratio"])
        assert row["npl_ratio_prev"] == pytest.approx(before.loc[p, "npl_ratio"])
        assert row["npl_ratio_change"] == pytest.approx(now.loc[p, "npl_ratio"] - before.loc[p, "npl_ratio"])
        assert row["balance_change"] == pytest.approx(now.loc[p, "balance"] / before.loc[p, "balance"] - 1)
    assert list(regions["region_code"]) == ["440000"] and regions["short_zh"].iloc[0] == "广东"
    # the rolled-up region figures are those of a read grouped by region alone
    assert list(all_regions["region_code"]) == list(by_region["region_code"])
    assert list(all_regions["overdue_rate_30_balance"]) == pytest.approx(list(by_region["overdue_rate_30_balance"]))
    assert list(all_regions["loans"]) == list(by_region["loans"])


def test_rank_movers_by_absolute_change():
    frame = pd.DataFrame({
        "product": ["a", "b", "c", "d"],
        "npl_ratio_change": [0.01, -0.03, None, 0.02],
    })
    frame = frame.assign(**{f"{m}_change": 0.0 for m in ov.MOVER_METRICS if m != "npl_ratio"})
    top = ov.rank_movers(frame, "npl_ratio", 2)
    assert list(top["product"]) == ["b", "d"]
    assert list(ov.rank_movers(frame, "npl_ratio", 10)["product"]) == ["b", "d", "a"]
    with pytest.raises(ValueError, match="metric must be one of"):
        ov.rank_movers(frame, "psi")


def test_with_alerts_leaves_unevaluated_months_blank():
    kpis = pd.DataFrame({"as_of": [dt.date(2024, 2, 29), dt.date(2024, 1, 31)], "loans": [2, 1]})
    alerts = pd.DataFrame({"as_of": [dt.date(2024, 2, 29)], "high_alerts": [3]})
    out = ov.with_alerts(kpis, alerts)
    assert list(out["as_of"]) == [dt.date(2024, 1, 31), dt.date(2024, 2, 29)]
    assert out["high_alerts"].isna().tolist() == [True, False] and out["high_alerts"].iloc[1] == 3


def test_drill_down_reads_match_the_kpis(demo_store):
    with make_engine(demo_store).connect() as conn:
        kpis = monthly_kpis(conn, Scope.of(["440000"]), Filters())
        month = kpis["as_of"].iloc[-1]
        over = ov.overdue_loans(conn, Scope.of(["440000"]), Filters(), month, 30)
        loss = ov.class_loans(conn, Scope.all(), Filters(products=("mortgage",)), month, "special_mention", limit=5)
        all_mortgage = monthly_kpis(conn, Scope.all(), Filters(as_of=month, products=("mortgage",)))
    assert over.total == kpis["loans_dpd_gt_30"].iloc[-1]
    assert set(over.loans["region_code"]) <= {"440000"} and (over.loans["dpd"] > 30).all()
    assert loss.total == all_mortgage["loans_special_mention"].iloc[0] and len(loss.loans) <= 5
    assert set(loss.loans["classification"]) <= {"special_mention"} and set(loss.loans["product"]) <= {"mortgage"}
    with pytest.raises(ValueError):
        ov.overdue_loans(None, Scope.all(), Filters(), month, 60)
