"""Unit tests of the drift and regional drawing pieces (no Streamlit run): the pure drift
view on a hand-made histogram, the figure builders, the display tables, and the offline
choropleth."""

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from analytics import drift
from analytics.drift_view import drift_view, migration_view, scored_months
from components import charts_drift as cd
from components import regional_panel as rp
from components.maps import NO_DATA, choropleth

M1, M2, M3 = dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31)


def _hist() -> pd.DataFrame:
    """Three months; scores 500..690 step 10. M1 and M2 uniform (20 scores × 5 loans);
    M3 shifted down by 50 points."""
    rows = []
    for m, shift in ((M1, 0), (M2, 0), (M3, -50)):
        for s in range(500, 700, 10):
            rows.append((m, s + shift, 5))
    return pd.DataFrame(rows, columns=["as_of", "credit_score", "loans"])


# --- analytics.drift_view -------------------------------------------------------------------


def test_drift_view_psi_matches_its_bins_and_the_baseline_is_zero():
    h = _hist()
    assert scored_months(h) == [M1, M2, M3]
    v = drift_view(h, M1, M3)
    assert v.baseline == M1 and v.month == M3
    assert v.point["loans"] == 100 and v.point["baseline_loans"] == 100
    # the contributions add up to the PSI, which is the one analytics.drift computes
    assert v.point["psi"] == pytest.approx(v.contributions["contribution"].sum())
    full = drift.psi_trend(h, M1)
    assert v.point["psi"] == pytest.approx(float(full.loc[full["as_of"] == M3, "psi"].iloc[0]))
    assert v.point["psi_band"] == "shifted"  # half the book left the baseline's range
    same = drift_view(h, M1, M2)
    assert same.point["psi"] == pytest.approx(0.0) and same.point["psi_band"] == "stable"
    assert drift_view(h, M3, M3).point["psi"] == 0.0


def test_drift_view_window_and_bins():
    h = _hist()
    v = drift_view(h, None, None, start=M2, end=M3, width=20)
    assert v.baseline == M1 and v.month == M3  # defaults: first and last scored months
    assert list(v.trend["as_of"]) == [M2, M3]
    assert (v.distribution["upper"] - v.distribution["lower"] == 20).all()
    assert v.distribution["loans_a"].sum() == 100 and v.distribution["loans_b"].sum() == 100
    deciles = drift_view(h, M1, M3)
    assert len(deciles.distribution) == 10


def test_drift_view_without_scores():
    empty = pd.DataFrame({"as_of": pd.Series(dtype=object), "credit_score": pd.Series(dtype=float), "loans": pd.Series(dtype=int)})
    v = drift_view(empty, None, M1)
    assert v.months == [] and v.trend.empty and v.point == {}


def test_migration_view_summary_by_hand():
    # band index 0 (<550) is the riskiest; 10 loans stay in band 2, 4 fall 2 -> 1, 3 rise 2 -> 4, 3 close
    pairs = pd.DataFrame(
        {
            "band_from": [2, 2, 2, 2],
            "band_to": pd.array([2, 1, 4, None], dtype="Int64"),
            "state_to": ["in_band", "in_band", "in_band", "closed"],
            "loans": [10, 4, 3, 3],
        }
    )
    shares, counts, summary = migration_view(pairs)
    assert summary == {"down": 0.2, "same": 0.5, "up": 0.15, "exit": 0.15, "loans": 20}
    row = drift.band_labels()[2]
    assert counts.loc[row, "closed"] == 3
    assert shares.loc[row].sum() == pytest.approx(1.0)


# --- figures and tables ---------------------------------------------------------------------


def test_distribution_figure_two_series_on_common_bins():
    v = drift_view(_hist(), M1, M3, width=20)
    fig = cd.distribution_figure(v.distribution, M1, M3, "en")
    assert [t.type for t in fig.data] == ["bar", "bar"]
    assert fig.data[0].name.startswith("2024-01") and fig.data[1].name.startswith("2024-03")
    assert list(fig.data[0].x) == list(fig.data[1].x)
    assert sum(fig.data[1].y) == pytest.approx(1.0)
    assert fig.data[0].x[0] == "440"  # 20-point bins show their lower edge


def test_psi_trend_figure_draws_the_three_bands():
    v = drift_view(_hist(), M1, M3)
    fig = cd.psi_trend_figure(v.trend, M3, "zh")
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.y0, r.y1) for r in rects][:2] == [(0.0, 0.10), (0.10, 0.25)]
    assert rects[2].y0 == 0.25 and rects[2].y1 >= 0.3
    texts = [a.text for a in fig.layout.annotations]
    assert any("稳定" in t for t in texts) and any("显著偏移" in t for t in texts)
    assert fig.layout.yaxis.range[1] >= v.trend["psi"].max()
    ringed = fig.data[-1]
    assert list(ringed.y) == [pytest.approx(v.point["psi"])]


def test_migration_figure_and_table():
    pairs = pd.DataFrame({"band_from": [0, 0, 5], "band_to": pd.array([0, 1, None], dtype="Int64"),
                          "state_to": ["in_band", "in_band", "written_off"], "loans": [3, 1, 2]})
    shares, counts, _ = migration_view(pairs)
    fig = cd.migration_figure(shares, counts, M1, M3, "en")
    hm = fig.data[0]
    assert hm.type == "heatmap" and list(hm.x[-4:]) == ["Closed", "Written off", "No score", "Not reported"]
    assert hm.text[0][0] == "75%" and hm.text[0][1] == "25%" and hm.text[5][7] == "100%"
    assert hm.text[1][1] == ""  # empty band: nothing written
    assert sum(1 for s in fig.layout.shapes if s.type == "rect") == 6  # the diagonal
    table = cd.migration_table(shares, counts, "en")
    assert list(table.columns[:2]) == ["Band (from)", "Loans (from)"]
    assert table["Loans (from)"].tolist() == [4, 0, 0, 0, 0, 2]


def test_discrimination_figure_hollow_for_partial_windows():
    disc = pd.DataFrame({"as_of": [M1, M2], "horizon_months": [12, 3], "loans": [100, 90], "bads": [10, 2],
                         "bad_rate": [0.1, 2 / 90], "ks": [0.5, 0.4], "auc": [0.8, 0.75]})
    fig = cd.discrimination_figure(disc, "en")
    assert [t.name for t in fig.data] == ["KS", "AUC"]
    assert list(fig.data[0].marker.symbol) == ["circle", "circle-open"]
    table = cd.discrimination_table(disc, "zh")
    assert table["观察期（月）"].tolist() == [12, 3]


def test_tables_and_column_settings():
    v = drift_view(_hist(), M1, M3)
    trend = cd.trend_table(v.trend, "en")
    assert trend["Month"].tolist() == ["2024-01", "2024-02", "2024-03"]
    assert trend["Band"].iloc[-1] == "Shifted (> 0.25)"
    contrib = cd.contributions_table(v.contributions, "zh")
    assert contrib["PSI 贡献"].sum() == pytest.approx(v.point["psi"])
    cfg = cd.column_config(contrib, "zh")
    assert "PSI 贡献" in cfg and "基准月占比 E" in cfg
    drops = pd.DataFrame({"loan_id": ["L1"], "region_code": ["440000"], "region_name_zh": ["广东省"],
                          "region_name_en": ["Guangdong"], "branch_id": [None], "product": ["mortgage"],
                          "segment": ["retail"], "balance": [1234567.0], "dpd": [35], "dpd_from": [0],
                          "score_from": [700], "score_to": [600], "change": [-100]})
    t = cd.drops_table(drops, {"440000": "广东"}, "zh")
    assert t.iloc[0].tolist()[:7] == ["L1", "广东", "", "个人住房贷款", 700, 600, -100]
    assert t["余额（元）"].iloc[0] == 1234567.0
    assert cd.band_label(None, "en") == "—" and cd.fmt_num(float("nan")) == "—"


# --- regional panel -------------------------------------------------------------------------


def _regions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region_code": ["110000", "440000", "650000"],
            "short_zh": ["北京", "广东", "新疆"],
            "name_en": ["Beijing", "Guangdong", "Xinjiang"],
            "balance": [3e8, 6e8, 1e8],
            "loans": [300, 600, 100],
            "overdue_rate_30_balance": [0.02, 0.01, 0.05],
            "overdue_rate_90_balance": [0.01, 0.005, 0.03],
            "npl_ratio": [0.012, 0.006, 0.04],
            "collateral_coverage": [1.5, 2.0, np.nan],
            "expected_loss": [np.nan, np.nan, np.nan],
            "overdue_rate_30_balance_mom": [0.001, -0.002, 0.01],
            "overdue_rate_30_balance_yoy": [0.0, 0.0, 0.0],
            "collateral_coverage_mom": [0.1, 0.0, np.nan],
            "collateral_coverage_yoy": [np.nan, np.nan, np.nan],
            "balance_mom": [0.05, 0.01, -0.1],
            "balance_yoy": [0.2, 0.1, 0.0],
            "npl_ratio_mom": [0.0, 0.0, 0.0],
        }
    )


def test_ranked_table_follows_the_metric():
    t = _regions()
    names = rp.region_names(t, "zh")
    dpd = rp.ranked_table(t, rp.metric_spec("dpd30"), names, "zh")
    assert dpd["地区"].tolist() == ["新疆", "北京", "广东"] and dpd["排名"].tolist() == [1, 2, 3]
    assert dpd["环比变化"].tolist() == pytest.approx([1.0, 0.1, -0.2])  # pp
    bal = rp.ranked_table(t, rp.metric_spec("balance"), names, "zh")
    assert bal["地区"].tolist() == ["广东", "北京", "新疆"]
    assert bal["贷款余额（¥万）"].tolist() == [60000.0, 30000.0, 10000.0]
    cov = rp.ranked_table(t, rp.metric_spec("collateral"), rp.region_names(t, "en"), "en")
    # higher coverage is safer: the lowest ranks first, a region without collateral has no rank
    assert cov["Region"].tolist() == ["Beijing", "Guangdong", "Xinjiang"]
    assert cov["Rank"].tolist()[:2] == [1, 2] and pd.isna(cov["Rank"].iloc[2])
    mom = rp.ranked_table(t, rp.metric_spec("dpd30_mom"), names, "en")
    assert mom["30+ MoM (pp)"].tolist() == pytest.approx([1.0, 0.1, -0.2])
    assert set(rp.ranked_column_config(rp.metric_spec("dpd30"), "zh")) >= {"排名", "30+ 逾期率", "环比变化"}


def test_map_values_tooltips_and_region_row():
    t = _regions()
    spec = rp.metric_spec("npl")
    values = rp.map_values(t, spec)
    assert values["code"].tolist() == ["110000", "440000", "650000"]
    assert values["rank"].tolist() == [2.0, 3.0, 1.0]
    fields = rp.tooltip_fields(spec, "en")
    assert fields[0][0] == "value" and "npl_ratio" not in [f[0] for f in fields]
    assert fields[0][2](0.0123) == "1.23%"
    row, rank = rp.region_row(t, spec, "440000")
    assert row["short_zh"] == "广东" and rank == 3.0
    assert rp.region_row(t, spec, "999999") == ({}, None)
    cards = rp.province_cards(row, "zh")
    assert [c.value for c in cards] == ["¥6.00亿", "1.00%", "0.60%", "200.0%"]
    assert cards[1].delta == "-0.20 pp"
    assert "3 / 3" in rp.province_summary(row, spec, rank, 3, "zh")


def test_province_figures_and_tables():
    kpis = pd.DataFrame({"as_of": [M1, M2], "overdue_rate_30_balance": [0.01, 0.02],
                         "overdue_rate_90_balance": [0.005, 0.01], "npl_ratio": [0.004, 0.008]})
    fig = rp.trend_figure(kpis, "广东", "zh")
    assert len(fig.data) == 3 and fig.layout.title.text.startswith("广东")
    by_product = pd.DataFrame({"product": ["mortgage", "consumer"], "loans": [10, 30], "balance": [3e6, 1e6],
                               "overdue_rate_30_balance": [0.01, 0.05], "overdue_rate_90_balance": [0.0, 0.02],
                               "npl_ratio": [0.0, 0.01]})
    prod = rp.product_table(by_product, "en")
    assert prod["Product"].tolist() == ["Mortgage", "Consumer"]
    assert prod["Share of balance"].tolist() == [0.75, 0.25]
    assert prod["Balance (¥M)"].tolist() == [3.0, 1.0]
    assert len(rp.product_figure(by_product, "en").data) == 2
    loans = pd.DataFrame({"loan_id": ["L1"], "customer_id": ["C1"], "branch_id": ["B1"], "branch_name": [None],
                          "product": ["auto"], "segment": ["retail"], "balance": [1000.0], "dpd": [400],
                          "classification": ["loss"], "credit_score": [450], "collateral_value": [np.nan],
                          "disbursement_date": [dt.date(2020, 1, 1)]})
    wl = rp.worst_loans_table(loans, "zh")
    assert wl.iloc[0]["五级分类 Class"] == "损失 Loss" and wl.iloc[0]["网点"] == "B1"
    assert "余额（元）" in rp.loan_column_config(wl, "zh")


def test_metric_specs():
    assert [s.key for s in rp.METRICS] == ["dpd30", "dpd90", "npl", "balance", "dpd30_mom", "collateral", "el"]
    assert not rp.metric_spec("collateral").higher_is_worse
    assert rp.metric_spec("dpd30_mom").fmt("en")(0.0012) == "+0.12 pp"
    assert rp.metric_spec("el").fmt("zh")(12345678.0) == "¥1,234.6万"
    with pytest.raises(ValueError, match="unknown metric"):
        rp.metric_spec("nope")


# --- the offline choropleth -----------------------------------------------------------------


def _square(code: str, x: float) -> dict:
    ring = [[x, 0.0], [x + 1, 0.0], [x + 1, 1.0], [x, 1.0], [x, 0.0]]
    return {"type": "Feature", "properties": {"code": code, "name_zh": f"区{code}", "name_en": f"R{code}"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def test_choropleth_is_offline_with_legend_and_grey_regions():
    geo = {"type": "FeatureCollection", "features": [_square("A", 0), _square("B", 2), _square("C", 4)]}
    values = pd.DataFrame({"code": ["A", "B"], "value": [0.01, 0.05], "npl": [0.1, 0.2]})
    fmap = choropleth(geo, values, value_column="value", caption="30+ DPD", selected="B",
                      tooltip_fields=[("npl", "NPL", lambda v: f"{v:.0%}")], legend_format=lambda v: f"{v:.1%}")
    html = fmap.get_root().render()
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", html)  # nothing fetched from the internet
    assert "cdn" not in html.lower()
    assert "data:text/javascript;base64," in html and "daihou-legend" in html
    assert "1.0%" in html and "5.0%" in html  # legend range
    assert '"preferCanvas": false' in html  # SVG paths: clickable and easy to find
    layer = next(c for c in fmap._children.values() if getattr(c, "data", None) and c.data.get("features"))
    fills = {f["properties"]["code"]: f["properties"]["_fill"] for f in layer.data["features"]}
    assert fills["C"] == NO_DATA and fills["A"] != fills["B"]
    props = {f["properties"]["code"]: f["properties"] for f in layer.data["features"]}
    assert props["A"]["npl"] == "10%" and props["C"]["npl"] == "—"
    assert layer.style_function(layer.data["features"][1])["weight"] == 3  # the selected region
