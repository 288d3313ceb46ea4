"""The stress page's drawing pieces (components.charts_stress), without Streamlit running."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analytics.stress import (
    ADVERSE,
    BASELINE,
    DEFAULT_STRESS,
    OUTPUTS,
    SEVERELY_ADVERSE,
    SatelliteModel,
    Scenario,
    compare,
    evaluate,
    prepare_book,
)
from components import charts_stress as cs


def _book_frame() -> pd.DataFrame:
    """Four loans in two regions, by hand."""
    return pd.DataFrame({
        "balance": [100_000.0, 50_000.0, 200_000.0, 10_000.0],
        "dpd": [0, 35, 0, 120],
        "classification": ["normal", "special_mention", "normal", "substandard"],
        "pd_12m": [0.02, 0.20, 0.01, 1.0],
        "product": ["consumer", "consumer", "mortgage", "credit_card"],
        "segment": ["retail", "retail", "retail", "retail"],
        "region_code": ["440000", "110000", "440000", "110000"],
        "collateral_type": [None, None, "real_estate", None],
        "collateral_value": [np.nan, np.nan, 300_000.0, np.nan],
    })


@pytest.fixture(scope="module")
def book():
    return prepare_book(_book_frame())


# --- sliders ---------------------------------------------------------------------------------


def test_presets_map_to_slider_positions_and_back():
    assert cs.slider_values(BASELINE) == ({"gdp_growth": 0.0, "unemployment": 0.0, "house_prices": 0.0, "interest_rate": 0.0}, False)
    assert cs.slider_values(ADVERSE) == ({"gdp_growth": -3.0, "unemployment": 2.0, "house_prices": -15.0, "interest_rate": 1.0}, False)
    assert cs.slider_values(SEVERELY_ADVERSE)[0] == {"gdp_growth": -6.0, "unemployment": 4.0, "house_prices": -30.0, "interest_rate": 2.0}
    for preset in (BASELINE, ADVERSE, SEVERELY_ADVERSE):
        assert cs.scenario_from_values(cs.slider_values(preset)[0], preset.name) == preset  # exactly the preset


def test_a_scenario_outside_the_sliders_is_clipped_and_flagged():
    values, changed = cs.slider_values(Scenario(gdp_growth=-0.20, house_prices=0.5, unemployment=0.013))
    assert changed
    assert values == {"gdp_growth": -10.0, "unemployment": 1.25, "house_prices": 30.0, "interest_rate": 0.0}


def test_every_preset_lies_inside_the_slider_ranges():
    for spec in cs.SHOCKS:
        for preset in (BASELINE, ADVERSE, SEVERELY_ADVERSE):
            assert spec.min <= getattr(preset, spec.field) * 100 <= spec.max
        assert spec.min < 0 < spec.max and spec.step > 0


def test_scenario_options_list_presets_then_saved():
    saved = pd.DataFrame({"scenario_id": [2], "name": ["Board"], "author": ["risk"], "comment": [None],
                          "created_at": [pd.Timestamp("2026-01-01")], "gdp_growth": [-0.05], "unemployment": [0.01],
                          "house_prices": [-0.2], "interest_rate": [0.0]})
    options = cs.scenario_options(saved)
    assert list(options) == ["preset:baseline", "preset:adverse", "preset:severely_adverse", "saved:Board"]
    assert options["saved:Board"] == Scenario("Board", gdp_growth=-0.05, unemployment=0.01, house_prices=-0.2)
    assert cs.option_label("preset:severely_adverse") == "严重不利情景 Severely adverse"
    assert cs.option_label("saved:Board") == "Board · 已保存 saved"
    assert cs.option_label("current") == "当前滑块 Current sliders"


def test_return_period():
    assert cs.return_period_years(1.0) == pytest.approx(1 / 0.15865525393145707)  # 1 − Φ(1)
    assert cs.return_period_years(2.0) == pytest.approx(1 / 0.022750131948179195)  # 1 − Φ(2)
    assert cs.return_period_years(0.0) is None and cs.return_period_years(-1.0) is None


# --- KPI cards ------------------------------------------------------------------------------


def test_kpi_cards_show_the_baseline_as_delta():
    stressed = {"el_stressed": 3_500_000.0, "pd_stressed": 0.0450, "npl_ratio_after": 0.0600,
                "provision_shortfall": 1_200_000.0, "capital_ratio_after": 0.1150}
    baseline = {"el_stressed": 2_000_000.0, "pd_stressed": 0.0200, "npl_ratio_after": 0.0350,
                "provision_shortfall": 200_000.0, "capital_ratio_after": 0.1200}
    cards = {c.key: c for c in cs.kpi_cards(stressed, baseline, "zh")}
    assert list(cards) == ["el_stressed", "pd_stressed", "npl_ratio_after", "provision_shortfall", "capital_ratio_after", "balance"]
    assert (cards["el_stressed"].value, cards["el_stressed"].delta) == ("¥350.0万", "+¥150.0万")
    assert cards["el_stressed"].description == "基准 ¥200.0万"
    assert (cards["pd_stressed"].value, cards["pd_stressed"].delta) == ("4.50%", "+2.50 pp")
    assert cards["npl_ratio_after"].delta == "+2.50 pp"
    assert cards["provision_shortfall"].delta == "+¥100.0万"
    assert (cards["capital_ratio_after"].delta, cards["capital_ratio_after"].delta_color) == ("-0.50 pp", "normal")
    assert cards["el_stressed"].delta_color == "inverse"
    assert "不良贷款率" in cards["npl_ratio_after"].label and "NPL ratio" in cards["npl_ratio_after"].label
    same = cs.kpi_cards({**baseline, "balance": 5e8, "loans": 1234}, baseline, "en")
    assert [c.delta for c in same[:5]] == ["±0"] * 5  # grey, no arrow
    assert {(c.delta_color, c.arrow) for c in same} == {("off", "off")}
    assert same[0].description == "baseline ¥2.00M"
    assert (same[5].label, same[5].value, same[5].delta) == ("Balance 贷款余额", "¥500.00M", "1,234 loans")


def test_kpi_cards_of_an_empty_book_do_not_crash(book):
    empty = evaluate(prepare_book(_book_frame().iloc[:0]), ADVERSE).summary
    cards = cs.kpi_cards(empty, empty, "en")
    assert cards[1].value == "—" and cards[1].delta == "±0"


# --- tables ---------------------------------------------------------------------------------


def test_result_table_names_groups_and_sorts_by_stressed_loss(book):
    result = evaluate(book, ADVERSE)
    table = cs.result_table(result.by_region, "region_code", {"440000": "广东", "110000": "北京"}, "zh")
    assert list(table.columns[:2]) == ["地区", "代码"]
    assert table["压力预期损失"].is_monotonic_decreasing
    assert set(table["地区"]) == {"广东", "北京"}
    by_code = table.set_index("代码")
    for row in result.by_region.itertuples():
        assert by_code.loc[row.region_code, "压力预期损失"] == row.el_stressed
        assert by_code.loc[row.region_code, "贷款笔数 Loans"] == row.loans
    assert len(table.columns) == 2 + len(OUTPUTS)
    config = cs.column_config("zh", OUTPUTS)
    assert set(config) == set(table.columns[2:])  # every output has its format and help
    assert set(cs.shown_columns("region_code", "zh")) <= set(table.columns)
    products = cs.result_table(result.by_product, "product", {}, "en")
    assert "Code" not in products.columns and set(products["Product"]) == {"consumer", "mortgage", "credit_card"}


def test_compare_table_puts_one_scenario_per_row(book):
    frame = compare(book, [replace(BASELINE, name="preset:baseline"), replace(ADVERSE, name="preset:adverse")])
    table = cs.compare_table(frame, {"preset:baseline": "Baseline", "preset:adverse": "Adverse"}, "en")
    assert table["Scenario"].tolist() == ["Baseline", "Adverse"]
    assert table["z (systematic factor)"].tolist() == pytest.approx([0.0, 1.0])
    assert table.loc[1, "GDP growth shock"] == -0.03
    assert table.loc[1, "Stressed EL"] == evaluate(book, ADVERSE).summary["el_stressed"]
    assert set(cs.column_config("en")) == set(table.columns[1:])


def test_saved_and_calibration_tables():
    saved = pd.DataFrame({"scenario_id": [1], "name": ["A"], "author": ["risk"], "comment": ["c"],
                          "created_at": [pd.Timestamp("2026-01-01")], "gdp_growth": [-0.01], "unemployment": [0.0],
                          "house_prices": [0.0], "interest_rate": [0.0]})
    out = cs.saved_table(saved, "en")
    assert out.columns.tolist() == ["Name", "Author", "Comment", "Saved at", "GDP growth shock", "Unemployment shock",
                                    "House-price shock", "Interest-rate shock"]
    cal = cs.calibration_table([{"decile": 1, "rows": 10, "defaults": 1, "mean_pd": 0.05, "observed_rate": 0.1}], "zh")
    assert cal.columns.tolist() == ["PD十分位", "样本数", "违约数", "平均PD", "实际违约率"]
    assert set(cs.calibration_config("zh")) <= set(cal.columns)


# --- figures --------------------------------------------------------------------------------


def test_waterfall_runs_from_baseline_to_stressed_loss(book):
    result = evaluate(book, SEVERELY_ADVERSE)
    fig = cs.waterfall_figure(result.waterfall, "en")
    (trace,) = fig.data
    assert trace.type == "waterfall"
    assert list(trace.x) == ["Baseline EL", "PD effect", "LGD effect", "Stressed EL"]
    assert list(trace.measure) == ["absolute", "relative", "relative", "total"]
    w = result.waterfall.set_index("step")["value"]
    div = 1e6  # English, amounts below 10 bn: millions
    assert "m)" in fig.layout.yaxis.title.text
    assert trace.y[:3] == pytest.approx((w["baseline_el"] / div, w["pd_effect"] / div, w["lgd_effect"] / div))
    assert w["baseline_el"] + w["pd_effect"] + w["lgd_effect"] == pytest.approx(w["stressed_el"])
    # by hand: 0.02·0.45·100,000 + 0.20·0.45·50,000 + 0.01·max(10 %, 20,000 ÷ 200,000)·200,000 + 1·0.75·10,000
    assert w["baseline_el"] == pytest.approx(900 + 4_500 + 200 + 7_500)
    assert trace.text[0] == "¥13.10K" and trace.text[1].startswith("+")
    assert fig.layout.yaxis.range[1] >= w["stressed_el"] / div  # the tallest bar fits
    assert fig.layout.title.text


def test_dimension_figure_shows_baseline_and_stressed_loss(book):
    result = evaluate(book, ADVERSE)
    fig = cs.dimension_figure(result.by_region, "region_code", {"440000": "广东", "110000": "北京"}, "zh")
    assert [t.type for t in fig.data] == ["bar", "bar"]
    assert [t.name for t in fig.data] == ["基准预期损失", "压力预期损失"]
    stressed = dict(zip(fig.data[1].y, fig.data[1].x))
    assert stressed["广东"] == pytest.approx(result.by_region.set_index("region_code").loc["440000", "el_stressed"] / 1e4)
    assert fig.layout.xaxis.title.text == "预期损失（万元）"
    top1 = cs.dimension_figure(result.by_region, "region_code", {}, "en", top=1)
    assert len(top1.data[0].y) == 1 and "top 1" in top1.layout.title.text


def test_money_axis_units():
    assert cs.money_axis([5e7, 2e8], "zh") == (1e4, "万元")
    assert cs.money_axis([-3e9], "zh") == (1e8, "亿元")
    assert cs.money_axis([5e7, float("nan")], "en", "USD") == (1e6, "USD m")
    assert cs.money_axis([2e10], "en") == (1e9, "CNY bn")
    assert cs.money_axis([], "zh", "HKD") == (1e4, "万 HKD")


def test_compare_figure_groups_by_scenario(book):
    frame = compare(book, [replace(BASELINE, name="a"), replace(ADVERSE, name="b")])
    fig = cs.compare_figure(frame, {"a": "Baseline", "b": "Adverse"}, "en")
    assert len(fig.data) == 4  # rates and amounts for each scenario
    assert [t.name for t in fig.data if t.showlegend is not False] == ["Baseline", "Adverse"]
    assert fig.data[2].y[0] == frame.loc["pd_stressed", "b"]
    assert fig.layout.barmode == "group"
    assert fig.data[3].y[0] == pytest.approx(frame.loc["el_stressed", "b"] / 1e6)
    table = cs.compare_table(frame, {}, "en")
    assert set(cs.compare_columns("en")) <= set(table.columns)


def test_method_notes_follow_the_configuration():
    text = cs.methodology_markdown(DEFAULT_STRESS, "en")
    assert "z = −15 · ΔGDP + 17.5 · ΔUnemployment − 0.667 · ΔHousePrices + 10 · ΔRates" in text
    assert "Φ((Φ⁻¹(PD) + √ρ · z) ÷ √(1 − ρ))" in text and "real estate 40 %" in text and "at least 10 %" in text
    assert "once in 6 years" in text and "once in 44 years" in text
    other = replace(DEFAULT_STRESS, satellite=SatelliteModel(gdp=20.0))
    assert "z = −20 · ΔGDP" in cs.methodology_markdown(other, "en")
    zh = cs.methodology_markdown(DEFAULT_STRESS, "zh")
    assert "次级" in zh and "房产 40 %" in zh and "信用卡 75 %" in zh
