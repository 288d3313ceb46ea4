"""Stress test (压力测试): macro scenarios on the book in scope, for the risk committee.

The book of the as-of month (scored by the PD model) is prepared once per data version,
scope and filters (``query_resource(stress_book, ...)``); a slider move re-evaluates it
with ``analytics.stress.evaluate`` inside a fragment, so only the scenario panel reruns.
Saving and deleting scenarios is offered to the risk committee and administrators only.
"""

from dataclasses import replace

import streamlit as st

from analytics.stress import ADVERSE, BASELINE, SEVERELY_ADVERSE, compare, evaluate, scenario_z
from components import charts_stress as cs
from components.auth import current_user
from components.charts import show_chart
from components.downloads import table_with_downloads
from components.filters import current_filters
from components.formatting import fmt_money, fmt_rate
from components.i18n import lang, t, tr
from components.query import query, query_resource
from components.store import cached_regions, data_version, engine
from data.config import settings
from data.credit import pd_model_report, stress_book
from data.scenarios import DuplicateScenarioError, delete_scenario, list_scenarios, save_scenario

EDITORS = ("risk_committee", "admin")
_PRESET, _PENDING, _FLASH, _BASE = "stress_preset", "stress_pending_preset", "stress_flash", "stress_baseline_result"

user = current_user()
scope = user.scope
flt = current_filters()
L = lang()
CUR = settings().currency


def money(v: float) -> str:
    return fmt_money(v, CUR, L)


def _slider_key(field: str) -> str:
    return f"stress_{field}"


def _saved_scenarios():
    """Saved scenarios, read fresh (a save does not change the data version, so no cache)."""
    with engine().connect() as conn:
        return list_scenarios(conn)


def _flash() -> None:
    msg = st.session_state.pop(_FLASH, None)
    if msg:
        getattr(st, msg[0])(msg[1])


def _apply_preset(options: dict) -> None:
    """Preset picker callback: move the sliders to the chosen scenario's shocks."""
    scenario = options.get(st.session_state.get(_PRESET))
    if scenario is None:
        return
    values, clipped = cs.slider_values(scenario)
    for field, value in values.items():
        st.session_state[_slider_key(field)] = value
    if clipped:
        st.session_state[_FLASH] = ("warning", tr(
            "This scenario lies outside the sliders' ranges or steps; the sliders show the nearest values.",
            "该情景超出滑块范围或步长，滑块显示最接近的取值。"))


def _current_values() -> dict[str, float]:
    return {spec.field: float(st.session_state.get(_slider_key(spec.field), 0.0)) for spec in cs.SHOCKS}


def _names(dimension: str, codes, regions: dict[str, str]) -> dict[str, str]:
    return regions if dimension == "region_code" else {c: t(c) for c in codes}


def _baseline(book):
    """The baseline scenario's result on ``book``, kept per session while the book is the same
    (it does not depend on the sliders)."""
    kept = st.session_state.get(_BASE)
    if kept is None or kept[0] is not book:
        kept = (book, evaluate(book, BASELINE))
        st.session_state[_BASE] = kept
    return kept[1]


st.title(tr("Stress test", "压力测试"))
if flt.as_of is None:
    st.info(t("no_data"))
    st.stop()
st.caption(
    f"{t('latest_month')}: {flt.as_of:%Y-%m} · {t('book_note')} · "
    + tr("12-month horizon; the global filters choose the book.", "期限12个月；左侧筛选条件决定测试的贷款范围。")
)

with st.spinner(tr("Reading and scoring the book…", "正在读取贷款并计算违约概率…"), show_time=True):
    book = query_resource(stress_book, scope, flt.month())
if book.n == 0:
    st.info(t("no_data"))
    st.stop()


@st.fragment
def scenario_panel(book, saved, regions: dict[str, str]) -> None:
    """Preset picker, sliders, KPI cards, waterfall and tables: reruns alone on a slider move.

    ``saved`` (the saved scenarios) and ``regions`` (region names) are read once per full run.
    """
    _flash()
    options = cs.scenario_options(saved)
    pending = st.session_state.pop(_PENDING, None)
    if pending in options:
        st.session_state[_PRESET] = pending
    elif st.session_state.get(_PRESET) not in options:
        st.session_state[_PRESET] = "preset:baseline"
    for spec in cs.SHOCKS:
        st.session_state.setdefault(_slider_key(spec.field), 0.0)

    sat = book.config.satellite
    years_adverse = cs.return_period_years(scenario_z(ADVERSE, sat))
    years_severe = cs.return_period_years(scenario_z(SEVERELY_ADVERSE, sat))
    left, right = st.columns([2, 3], gap="large")
    with left:
        preset = st.selectbox(
            tr("Scenario (sets the sliders)", "情景（设置滑块）"), list(options),
            format_func=cs.option_label, key=_PRESET, on_change=_apply_preset, args=(options,),
            help=tr(f"Presets: adverse ≈ a 1-in-{years_adverse:.0f}-year downturn, severely adverse ≈ 1-in-{years_severe:.0f}-year. "
                    "Saved scenarios follow. Choosing one moves the sliders; move them further to explore.",
                    f"预设：不利情景约{years_adverse:.0f}年一遇，严重不利情景约{years_severe:.0f}年一遇；其后为已保存情景。"
                    "选择后滑块随之移动，可继续调整。"),
            persist_state="session",
        )
        values = {
            spec.field: st.slider(spec.label(L), spec.min, spec.max, step=spec.step, format=spec.fmt,
                                  key=_slider_key(spec.field), help=spec.help(L), persist_state="session")
            for spec in cs.SHOCKS
        }
        scenario = cs.scenario_from_values(values)
        z = scenario_z(scenario, sat)
        years = cs.return_period_years(z)
        if years is not None:
            severity = tr(f"≈ a 1-in-{years:,.0f}-year downturn", f"约 {years:,.0f} 年一遇的下行")
        elif z < 0:
            severity = tr("benign: better than today", "温和：好于当前")
        else:
            severity = tr("no shock: today", "无冲击：当前状况")
        st.metric(
            tr("Systematic factor z", "系统性因子 z"), f"{z:+.2f}", severity, delta_color="off", delta_arrow="off",
            help=tr(f"z = −{sat.gdp:g}·ΔGDP + {sat.unemployment:g}·ΔUnemployment − {sat.house_prices:.3g}·ΔHousePrices "
                    f"+ {sat.interest_rate:g}·ΔRates (shocks as fractions). 0 = today; the PD of each loan rises with z "
                    "(Vasicek). See the method notes below.",
                    f"z = −{sat.gdp:g}·ΔGDP增速 + {sat.unemployment:g}·Δ失业率 − {sat.house_prices:.3g}·Δ房价 + "
                    f"{sat.interest_rate:g}·Δ利率（冲击以小数计）。0 = 当前；z 越大每笔贷款的PD越高（Vasicek）。详见下方方法说明。"),
        )
        if cs.slider_values(options[preset])[0] != values:
            st.caption(tr(f"Adjusted from “{cs.option_label(preset)}”.", f"已在“{cs.option_label(preset)}”基础上调整。"))

    base = _baseline(book)
    result = base if scenario.shocks() == BASELINE.shocks() else evaluate(book, scenario)  # no shock: the baseline's
    s = result.summary
    with right:
        if s["balance"] > 0 and s["pd_baseline"] != s["pd_baseline"]:  # NaN: no PD model yet
            st.warning(tr("The store has too little history for a PD model; stressed figures are not available.",
                          "数据历史过短，无法建立违约概率模型，压力测试结果不可用。"))
        st.caption(
            f"{tr('Today: NPL ratio 不良贷款率', '当前：不良贷款率 NPL ratio')} {fmt_rate(s['npl_ratio'])} · "
            f"{tr('capital ratio 资本充足率', '资本充足率 capital ratio')} {fmt_rate(s['capital_ratio_before'])} · "
            f"{tr('provisions held', '现有拨备')} {money(s['provisions_held'])}"
        )
        cards = cs.kpi_cards(s, base.summary, L, CUR)
        for row in (cards[0:2], cards[2:4], cards[4:6]):
            for col, card in zip(st.columns(2), row):
                col.metric(card.label, card.value, card.delta, delta_color=card.delta_color, delta_arrow=card.arrow,
                           help=card.help, border=True, delta_description=card.description)

    views = ["损失瀑布图 Waterfall", "按地区 By region", "按产品 By product", "按客群 By segment"]
    tabs = st.tabs(views, key="stress_view", on_change="rerun")  # only the open one is drawn on a slider move
    if tabs[0].open:
        with tabs[0]:
            show_chart(cs.waterfall_figure(result.waterfall, L, CUR), key="stress_waterfall")
            st.caption(tr("The PD effect is taken first (stressed PD at today's LGD), then the LGD effect of the house-price "
                          "shock on real-estate collateral at the stressed PD.",
                          "先计PD效应（压力PD × 当前LGD），再计房价冲击通过房产抵押品对LGD的影响（按压力PD）。"))
    for tab, dim in zip(tabs[1:], ("region_code", "product", "segment"), strict=True):
        if not tab.open:
            continue
        with tab:
            table = result.by(dim)
            names = _names(dim, table[dim], regions)
            table_with_downloads(
                cs.result_table(table, dim, names, L), f"stress_{dim}", key=f"stress_table_{dim}", hide_index=True,
                column_config=cs.column_config(L, cs.OUTPUTS), column_order=cs.shown_columns(dim, L),
            )
            show_chart(cs.dimension_figure(table, dim, names, L, CUR), key=f"stress_chart_{dim}")

    if user.role in EDITORS:
        with st.expander(tr("Save this scenario", "保存当前情景"), icon=":material/save:"):
            with st.form("stress_save_form", border=False):
                name = st.text_input(tr("Name", "名称"), key="stress_save_name", max_chars=128)
                comment = st.text_area(tr("Comment", "说明"), key="stress_save_comment", max_chars=2000, height=80)
                submitted = st.form_submit_button(tr("Save scenario", "保存情景"), type="primary", key="stress_save_submit",
                                                  icon=":material/save:")
            if submitted:
                try:
                    with engine().begin() as conn:
                        save_scenario(conn, replace(scenario, name=name.strip()), author=user.username,
                                      comment=comment.strip() or None)
                except (DuplicateScenarioError, ValueError) as exc:
                    st.error(tr("Not saved: ", "未保存：") + str(exc))
                else:
                    st.session_state[_FLASH] = ("success", tr(f"Saved “{name.strip()}”.", f"已保存“{name.strip()}”。"))
                    st.session_state[_PENDING] = f"saved:{name.strip()}"
                    st.rerun(scope="app")  # the picker and the compare tab list it
    else:
        st.caption(tr("Saving scenarios is for the risk committee and administrators.", "仅风险委员会和管理员可保存情景。"))


@st.fragment
def compare_panel(book, saved) -> None:
    """Saved and preset scenarios side by side; the saved list (delete for editors)."""
    _flash()
    options = cs.scenario_options(saved)
    options["current"] = cs.scenario_from_values(_current_values())
    labels = {k: cs.option_label(k) for k in options}
    chosen = st.multiselect(
        tr("Scenarios to compare", "对比情景"), list(options),
        default=["preset:baseline", "preset:adverse", "preset:severely_adverse"],
        format_func=labels.get, key="stress_compare", max_selections=8,
    )
    if chosen:
        frame = compare(book, [replace(options[k], name=k) for k in chosen])
        table_with_downloads(cs.compare_table(frame, labels, L), "stress_compare", key="stress_compare_table",
                             hide_index=True, column_config=cs.column_config(L), column_order=cs.compare_columns(L))
        show_chart(cs.compare_figure(frame, labels, L, CUR), key="stress_compare_chart")
    else:
        st.info(tr("Choose one or more scenarios.", "请选择至少一个情景。"))

    st.subheader(tr("Saved scenarios", "已保存情景"))
    if saved.empty:
        st.caption(tr("None saved yet.", "尚无已保存情景。"))
        return
    table_with_downloads(cs.saved_table(saved, L), "stress_saved_scenarios", key="stress_saved_table", hide_index=True,
                         column_config=cs.column_config(L, [spec.field for spec in cs.SHOCKS]))
    if user.role in EDITORS:
        with st.popover(tr("Delete a scenario…", "删除情景…"), icon=":material/delete:", key="stress_delete_popover"):
            victim = st.selectbox(tr("Scenario", "情景"), saved["name"].tolist(), key="stress_delete_name")
            if st.button(tr("Delete", "删除"), key="stress_delete_button", type="primary"):
                with engine().begin() as conn:
                    deleted = delete_scenario(conn, victim, username=user.username)
                st.session_state[_FLASH] = ("success", tr(f"Deleted “{victim}”.", f"已删除“{victim}”。")) if deleted else (
                    "warning", tr(f"“{victim}” was already gone.", f"“{victim}”已不存在。"))
                st.rerun(scope="app")


def model_panel() -> None:
    """The PD model's validation and the stress test's definitions."""
    report = query(pd_model_report, scope, flt.as_of)
    methods = {"logistic": tr("Logistic regression", "逻辑回归"), "roll_rate_chain": tr("Roll-rate chain", "迁徙率链"),
               "none": tr("None (too little history)", "无（历史不足）")}
    c = st.columns(4)
    c[0].metric(tr("Method", "方法"), methods.get(report["method"], report["method"]),
                help=tr("Logistic regression on score, DPD bucket, product, segment, LTV and months on book; the "
                        "roll-rate chain when there are too few labelled defaults.",
                        "以评分、逾期档、产品、客群、抵押率和账龄为特征的逻辑回归；已标注违约过少时改用迁徙率链。"))
    c[1].metric("AUC", "—" if report["auc"] is None else f"{report['auc']:.3f}",
                help=tr("Probability that a loan which defaulted within 12 months had a higher PD than one which did not "
                        "(held-out later months, regions in your scope). 0.5 = no skill, 1 = perfect.",
                        "12个月内违约的贷款PD高于未违约贷款的概率（样本外的后续月份，您权限内的地区）。0.5 为无区分力，1 为完美。"))
    c[2].metric("KS", "—" if report["ks"] is None else f"{report['ks']:.3f}",
                help=tr("Largest gap between the cumulative PD distributions of defaulters and non-defaulters (held out).",
                        "违约与未违约贷款PD累积分布的最大差距（样本外）。"))
    c[3].metric(tr("Fallback used", "是否回退"), tr("yes", "是") if report["fallback_used"] else tr("no", "否"),
                help=report["fallback_reason"] or tr("The logistic model was fitted.", "已拟合逻辑回归模型。"))
    st.caption(
        tr(f"Training rows {report['n_train']:,} ({report['n_train_defaults']:,} defaults, whole store); held out "
           f"{report['n_test']:,} ({report['n_test_defaults']:,} defaults, in scope); fitted {report['fitted_at'] or '—'}.",
           f"训练样本 {report['n_train']:,} 条（违约 {report['n_train_defaults']:,}，全库）；样本外 {report['n_test']:,} 条"
           f"（违约 {report['n_test_defaults']:,}，权限范围内）；拟合时间 {report['fitted_at'] or '—'}。")
    )
    if report["calibration"]:
        st.markdown("**" + tr("Calibration by PD decile (held out)", "按PD十分位的校准（样本外）") + "**")
        table_with_downloads(cs.calibration_table(report["calibration"], L), "pd_calibration", key="stress_pd_calibration",
                             hide_index=True, column_config=cs.calibration_config(L))
    st.markdown(cs.methodology_markdown(book.config, L))


saved = _saved_scenarios()  # fresh on every full run; a save or delete reruns the app
tab_scenario, tab_compare = st.tabs(["情景分析 Scenario", "情景对比 Compare"], key="stress_tab", on_change="rerun")
if tab_scenario.open:
    with tab_scenario:
        region_rows = cached_regions(data_version(), scope)
        region_names = dict(zip(region_rows["region_code"], region_rows["name_en" if L == "en" else "short_zh"], strict=True))
        scenario_panel(book, saved, region_names)
if tab_compare.open:
    with tab_compare:
        compare_panel(book, saved)

model = st.expander(tr("PD model validation and method notes", "违约概率模型验证与方法说明"), icon=":material/fact_check:",
                    key="stress_model", on_change="rerun")
if model.open:
    with model:
        model_panel()
