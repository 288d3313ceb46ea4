"""Early warning (预警): the month's alerts by level and rule, the rule set, and its back-test.

A month's alerts are evaluated into the store the first time anyone opens it at the
current data version and rule set (``data.alert_runs.ensure_month_evaluated``: the whole
book, once, under a lock); reads are then scoped to the user. The back-test (tens of
seconds on a large book) runs only when its tab is opened, and is cached by data version,
scope and filters. The filters with translated options are keyed per language
(``components.lang_keys``), so a language switch keeps them.
"""

import streamlit as st

from components import charts_alerts as ca
from components.auth import current_user
from components.charts import show_chart
from components.downloads import table_with_downloads
from components.filters import current_filters
from components.formatting import fmt_count
from components.i18n import lang, lang_tabs, t, tr
from components.lang_keys import lang_key
from components.query import query
from components.store import cached_months, cached_regions, data_version
from data.alert_runs import month_alerts
from data.alerts import RULES_FILE, backtest, load_rules
from data.read import Filters

_MONTH, _FOLLOW = "alerts_month", "alerts_month_follows"
_LIMITS = (500, 2000, 10000)

scope = current_user().scope
flt = current_filters()
L = lang()

st.title(tr("Early warning", "预警"))
version = data_version()
months = cached_months(version, scope)
if flt.as_of is None or not months:
    st.info(t("no_data"))
    st.stop()

rules = load_rules()
labels = {m.strftime("%Y-%m"): m for m in months}
regions = cached_regions(version, scope)
region_names = dict(zip(regions["region_code"], regions["name_en" if L == "en" else "short_zh"], strict=True))
region_options = list(flt.regions) if flt.regions else list(region_names)

# the month follows the global as-of month until the user picks another here
global_label = flt.as_of.strftime("%Y-%m")
if st.session_state.get(_FOLLOW) != global_label or st.session_state.get(_MONTH) not in labels:
    st.session_state[_MONTH] = global_label if global_label in labels else list(labels)[-1]
    st.session_state[_FOLLOW] = global_label

c1, c2, c3, c4, c5 = st.columns([1, 1.2, 2, 1.6, 0.8])
month_label = c1.selectbox(t("latest_month"), list(labels), key=_MONTH,
                           help=tr("Defaults to the as-of month of the sidebar.", "默认为左侧的数据月份。"))
levels = c2.multiselect(tr("Level", "级别"), ["high", "medium", "low"], key=lang_key("alerts_level"),
                        format_func=lambda lv, lg=L: ca.level_label(lv, lg), placeholder=t("all"))
chosen_rules = c3.multiselect(tr("Rule", "规则"), rules.rule_names(), key=lang_key("alerts_rule"),
                              format_func=lambda r, lg=L: ca.rule_label(r, lg), placeholder=t("all"))
chosen_regions = c4.multiselect(t("region"), region_options, key=lang_key("alerts_region"),
                                format_func=lambda c: region_names.get(c, c), placeholder=t("all"))
limit = c5.selectbox(tr("Rows", "行数"), _LIMITS, key="alerts_limit", format_func=lambda n: f"{n:,}")
month = labels[month_label]

view = Filters(as_of=month, regions=tuple(chosen_regions) or flt.regions, products=flt.products,
               segments=flt.segments)
with st.spinner(tr(f"Reading the alerts of {month_label} (evaluating the rules first if this month has not been "
                   "evaluated since the last data load)…",
                   f"正在读取 {month_label} 的预警（若该月自上次数据导入后尚未评估，先评估预警规则）…"), show_time=True):
    got = query(month_alerts, scope, view, levels=tuple(levels), rules=tuple(chosen_rules), limit=limit,
                rule_set=rules)
run, counts, alerts = got.run, got.counts, got.alerts
if run.evaluated_at is not None:
    st.caption(tr(
        f"Alerts of the book at {month_label} (active loans at month end), evaluated {run.evaluated_at:%Y-%m-%d %H:%M} "
        "UTC with the rules of the Rules tab; the sidebar filters apply.",
        f"{month_label} 月末在贷贷款的预警，按“预警规则”页签中的规则于 {run.evaluated_at:%Y-%m-%d %H:%M}（UTC）评估；"
        "左侧筛选条件同样适用。"))
totals = ca.level_totals(counts, chosen_rules)

cards, chart = st.columns([2, 3], gap="medium")
with cards:
    r1, r2 = st.columns(2), st.columns(2)
    r1[0].metric(tr("Alerts", "预警总数"), fmt_count(sum(totals.values())), border=True,
                 help=tr("Alerts raised at the month end under the rule and region filters (a loan can raise several).",
                         "该月末在规则与地区筛选下触发的预警数（一笔贷款可触发多条）。"))
    for col, lv in zip((r1[1], r2[0], r2[1]), ("high", "medium", "low"), strict=True):
        col.metric(tr(f"{ca.level_label(lv, 'en')} level", f"{ca.level_label(lv, 'zh')}级预警"), fmt_count(totals[lv]),
                   border=True, help=tr("Each rule's level is set in the rule configuration (Rules tab).",
                                        "各规则的级别在规则配置中设定（见“预警规则”页签）。"))
with chart:
    if sum(totals.values()):
        show_chart(ca.rule_level_chart(counts, L, tr("Alerts by rule and level", "各规则预警数（按级别）"),
                                       rules=chosen_rules, height=250), key="alerts_by_rule")

tab_list, tab_rules, tab_bt = lang_tabs("alerts_tab", {
    "list": ("Alert list", "预警列表"), "rules": ("Rules", "预警规则"), "backtest": ("Back-test", "规则回测"),
}).values()
if tab_list.open is not False:
    with tab_list:
        matching = sum(totals[lv] for lv in (levels or totals))
        st.caption(tr(f"{fmt_count(len(alerts))} of {fmt_count(matching)} alerts listed: most severe first, then by "
                      "rule and loan.",
                      f"共 {fmt_count(matching)} 条预警，列出 {fmt_count(len(alerts))} 条：按级别由高到低，再按规则与贷款排序。"))
        if alerts.empty:
            st.info(tr("No alerts for this selection.", "当前筛选条件下没有预警。"))
        table_with_downloads(ca.alert_table(alerts, region_names, L), f"alerts_{month_label}", "alerts_list",
                             hide_index=True, column_config=ca.alert_column_config(L))

if tab_rules.open:
    with tab_rules:
        st.caption(tr(f"Thresholds and levels come from the configuration: {RULES_FILE.name}, with the file named by "
                      "DAIHOU_ALERT_RULES laid over it.",
                      f"阈值与级别来自配置文件 {RULES_FILE.name}，可用 DAIHOU_ALERT_RULES 指定的文件覆盖。"))
        table_with_downloads(ca.rules_table(rules, L), "alert_rules", "alerts_rules", hide_index=True)

if tab_bt.open:
    with tab_bt:
        bt_filters = Filters(regions=tuple(chosen_regions) or flt.regions, products=flt.products,
                             segments=flt.segments)
        with st.spinner(tr("Back-testing every rule over the stored history (can take half a minute on a large "
                           "book; cached after)…",
                           "正在用历史数据回测各规则（大型贷款组合约需半分钟，之后使用缓存）…"), show_time=True):
            bt = query(backtest, scope, bt_filters, rules=rules)
        if bt["months"].iloc[0] == 0:
            st.info(tr("No month has 12 months of history after it yet: nothing to back-test.",
                       "尚无之后有12个月数据的月份，无法回测。"))
        else:
            st.caption(tr(
                f"Every month from {bt['first_month'].iloc[0]:%Y-%m} to {bt['last_month'].iloc[0]:%Y-%m} "
                f"({bt['months'].iloc[0]} months with 12 months of outcome stored); region and sidebar filters apply. "
                "An alert went bad when its loan was > 90 DPD at a month end within the next 12 months.",
                f"回测月份：{bt['first_month'].iloc[0]:%Y-%m} 至 {bt['last_month'].iloc[0]:%Y-%m}"
                f"（共 {bt['months'].iloc[0]} 个月，其后12个月的表现均已入库）；地区与左侧筛选条件适用。"
                "预警后12个月内任一月末逾期超过90天即视为变坏。"))
            table_with_downloads(ca.backtest_display(bt, L), "alert_backtest", "alerts_backtest",
                                 hide_index=True, column_config=ca.backtest_column_config(L))
            show_chart(ca.backtest_chart(bt, L, tr("Lift by rule: how much more often an alerted loan goes bad",
                                                   "各规则提升度：预警贷款变坏的频率是整体的多少倍")), key="alerts_lift")
