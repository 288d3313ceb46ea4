"""AppTest: the stress-test page (压力测试) on a small generated store.

The expected figures are computed here straight from the data layer and the stress maths
(``data.credit.stress_book`` + ``analytics.stress.evaluate``) and compared with what the
page shows, formatted the same way.
"""

import re

import pytest

from analytics.stress import ADVERSE, Scenario, evaluate
from components.formatting import fmt_money
from data.credit import stress_book
from data.engine import make_engine
from data.read import Filters, Scope, stored_months
from app_helpers import metric, open_page, widget

PAGE = "pages/stress.py"
COMPARE_TAB = "情景对比 Compare"
pytestmark = pytest.mark.usefixtures("app_cache")  # the PD model is cached per store: a module-wide folder, not the repo's .cache


def _expected(url, scenario, scope=Scope.all(), **filters):
    """The page's book (latest month in scope, global filters) evaluated under ``scenario``."""
    with make_engine(url).connect() as conn:
        month = stored_months(conn, scope, Filters())[-1]
        return evaluate(stress_book(conn, scope, Filters(as_of=month, **filters)), scenario).summary


def _stress_page(username):
    return open_page(PAGE, username)


def _loans(at):
    """Loans in the book under test, from the balance card (``12,345 笔``)."""
    return int(metric(at, "贷款余额").delta.split(" ")[0].replace(",", ""))


def _open_view(at, view):
    """Open a result tab (lazy: only the open one is drawn): waterfall, region, product, segment."""
    at.session_state["stress_view"] = {
        "waterfall": "损失瀑布图 Waterfall", "region": "按地区 By region", "product": "按产品 By product", "segment": "按客群 By segment",
    }[view]
    at.run()
    assert not at.exception, at.exception
    return at


def _table(at, first_column):
    """The table whose first column is headed ``first_column`` (AppTest does not expose table keys)."""
    for df in at.dataframe:
        frame = df.value
        if len(frame.columns) and frame.columns[0] == first_column:
            return frame
    raise AssertionError(f"no table headed {first_column!r}: {[list(d.value.columns[:1]) for d in at.dataframe]}")


def test_renders_the_baseline_with_the_data_layers_numbers(app_env):
    at = _stress_page("risk")
    labels = " ".join(m.label for m in at.metric)
    for part in ("压力预期损失", "压力违约概率", "压力后不良贷款率", "拨备缺口", "损失后资本充足率", "系统性因子 z"):
        assert part in labels
    assert [s.value for s in at.slider] == [0.0, 0.0, 0.0, 0.0]
    assert metric(at, "系统性因子 z").value == "+0.00"
    base = _expected(app_env, Scenario())
    assert metric(at, "压力预期损失").value == fmt_money(base["el_stressed"], "CNY", "zh")
    assert metric(at, "压力预期损失").delta == "±0"  # the baseline scenario against itself
    assert _loans(at) == base["loans"]
    assert not [d for d in at.dataframe if d.value.columns[0] == "地区"]  # closed tabs are not drawn
    for view, head in (("region", "地区"), ("product", "产品"), ("segment", "客群")):
        _open_view(at, view)
        table = _table(at, head)
        assert table["贷款笔数 Loans"].sum() == base["loans"]
        assert table["压力预期损失"].sum() == pytest.approx(base["el_stressed"])
    assert widget(at.button, "stress_save_submit")  # the risk committee may save


def test_a_slider_move_changes_the_stressed_loss(app_env):
    at = _stress_page("risk")
    before = metric(at, "压力预期损失").value
    widget(at.slider, "stress_unemployment").set_value(4.0).run()
    assert not at.exception, at.exception
    after = metric(at, "压力预期损失")
    expected = _expected(app_env, Scenario(unemployment=0.04))
    assert after.value != before
    assert after.value == fmt_money(expected["el_stressed"], "CNY", "zh")
    assert after.delta.startswith("+")
    assert metric(at, "系统性因子 z").value == "+0.70"  # 17.5 × 0.04


def test_a_preset_sets_the_sliders_and_the_values(app_env):
    at = _stress_page("manager")
    widget(at.selectbox, "stress_preset").set_value("preset:adverse").run()
    assert not at.exception, at.exception
    assert {s.key: s.value for s in at.slider} == {
        "stress_gdp_growth": -3.0, "stress_unemployment": 2.0, "stress_house_prices": -15.0, "stress_interest_rate": 1.0,
    }
    assert metric(at, "系统性因子 z").value == "+1.00"
    expected = _expected(app_env, ADVERSE)
    assert metric(at, "压力预期损失").value == fmt_money(expected["el_stressed"], "CNY", "zh")
    assert metric(at, "压力后不良贷款率").value == f"{expected['npl_ratio_after']:.2%}"
    assert metric(at, "损失后资本充足率").value == f"{expected['capital_ratio_after']:.2%}"
    # switching the language keeps the scenario (its option text is the same in both languages)
    widget(at.button_group, "lang").set_value("en").run()
    assert not at.exception, at.exception
    assert widget(at.selectbox, "stress_preset").value == "preset:adverse"
    assert metric(at, "Stressed EL").value == fmt_money(expected["el_stressed"], "CNY", "en")


def test_risk_saves_a_scenario_and_compare_shows_it(app_env):
    at = _stress_page("risk")
    widget(at.slider, "stress_gdp_growth").set_value(-5.0).run()
    widget(at.slider, "stress_house_prices").set_value(-20.0).run()
    at.text_input(key="stress_save_name").input("Board downturn")
    at.text_area(key="stress_save_comment").input("Asked for by the board, Q3")
    widget(at.button, "stress_save_submit").click().run()
    assert not at.exception, at.exception
    assert any("Board downturn" in s.value for s in at.success)
    picker = widget(at.selectbox, "stress_preset")
    assert picker.options[-1] == "Board downturn · 已保存 saved" and picker.value == "saved:Board downturn"

    at.session_state["stress_tab"] = COMPARE_TAB
    at.run()
    assert not at.exception, at.exception
    saved = _table(at, "名称")
    row = saved[saved.iloc[:, 0] == "Board downturn"].iloc[0]
    assert (row.iloc[1], row.iloc[2]) == ("risk", "Asked for by the board, Q3")
    widget(at.multiselect, "stress_compare").set_value(["preset:baseline", "saved:Board downturn"]).run()
    assert not at.exception, at.exception
    table = _table(at, "情景")
    assert table.iloc[:, 0].tolist() == ["基准情景 Baseline", "Board downturn · 已保存 saved"]
    expected = _expected(app_env, Scenario(gdp_growth=-0.05, house_prices=-0.20))
    assert table.loc[1, "压力预期损失"] == pytest.approx(expected["el_stressed"], rel=1e-9)
    assert table.loc[1, "系统性因子 z"] == pytest.approx(15 * 0.05 + 2 / 3 * 0.20)

    # deleting it (offered to the risk committee) takes it off the list
    widget(at.selectbox, "stress_delete_name").set_value("Board downturn")
    widget(at.button, "stress_delete_button").click().run()
    assert not at.exception, at.exception
    assert any("已删除“Board downturn”" in s.value for s in at.success)
    assert "Board downturn · 已保存 saved" not in widget(at.multiselect, "stress_compare").options
    assert not [d for d in at.dataframe if d.value.columns[0] == "名称"]  # none saved any more


def test_a_duplicate_name_is_refused_with_the_reason(app_env):
    at = _stress_page("admin")
    for _ in range(2):
        at.text_input(key="stress_save_name").input("Same name")
        widget(at.button, "stress_save_submit").click().run()
        assert not at.exception, at.exception
    assert any("already exists" in e.value for e in at.error)
    at.text_input(key="stress_save_name").input("adverse")
    widget(at.button, "stress_save_submit").click().run()
    assert any("preset" in e.value for e in at.error)

def test_a_manager_is_not_offered_saving_or_deleting(app_env):
    at = _stress_page("manager")
    assert "stress_save_submit" not in [b.key for b in at.button]
    assert not [t for t in at.text_input if t.key == "stress_save_name"]
    assert any("仅风险委员会和管理员可保存情景" in c.value for c in at.caption)
    at.session_state["stress_tab"] = COMPARE_TAB
    at.run()
    assert not at.exception, at.exception
    assert "stress_delete_button" not in [b.key for b in at.button]
    assert len(_table(at, "情景")) == 3  # the presets by default


def test_global_filters_narrow_the_book(app_env):
    at = _stress_page("manager")
    n_all = _loans(at)
    widget(at.multiselect, "product").set_value(["mortgage"]).run()
    assert not at.exception, at.exception
    n_mortgage = _loans(at)
    assert 0 < n_mortgage < n_all
    assert n_mortgage == _expected(app_env, Scenario(), products=("mortgage",))["loans"]
    assert _table(_open_view(at, "product"), "产品").iloc[:, 0].tolist() == ["个人住房贷款"]


def test_a_regional_head_sees_only_guangdong(app_env):
    at = _stress_page("guangdong")
    regions = _table(_open_view(at, "region"), "地区")
    assert regions.iloc[:, 0].tolist() == ["广东"]
    gd = _expected(app_env, Scenario(), scope=Scope.of(["440000"]))
    assert _loans(at) == gd["loans"] < _expected(app_env, Scenario())["loans"]
    assert "stress_save_submit" not in [b.key for b in at.button]


def test_pd_model_validation_opens_with_the_method_notes(app_env):
    at = _stress_page("manager")
    assert not [m for m in at.metric if m.label == "AUC"]  # closed: not computed
    at.session_state["stress_model"] = True
    at.run()
    assert not at.exception, at.exception
    assert re.fullmatch(r"0\.\d{3}", metric(at, "AUC").value)
    assert metric(at, "KS")
    notes = " ".join(m.value for m in at.markdown)
    assert "Vasicek" in notes and "Φ⁻¹(PD)" in notes and "40 %" in notes

