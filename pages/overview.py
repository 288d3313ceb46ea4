"""Overview (总览), for managers: the month's KPIs against last month, trends, mix and movers.

Thin: reads the global filters, calls ``data.overview`` through ``query`` (cached by data
version, scope and arguments), and draws with ``components``. Every KPI card links to the
page that explains it.
"""

import time

import streamlit as st
from streamlit.errors import StreamlitAPIException

from analytics.delinquency import DEFINITIONS as DQ_DEF
from analytics.provisions import DEFINITIONS as PV_DEF
from components import charts_delinquency as cd
from components.auth import current_user
from components.charts import show_chart
from components.downloads import table_with_downloads
from components.filters import current_filters
from components.formatting import fmt_count, fmt_money, fmt_rate
from components.i18n import lang, t, tr
from components.kpi_cards import Card, kpi_row
from components.policy import current_policy
from components.query import query
from components.store import cached_regions, data_version
from data import overview as ov

scope = current_user().scope
flt = current_filters()
lg = lang()

st.title(t("overview"))
if flt.as_of is None:
    st.info(t("no_data"))
    st.stop()

# Alerts are evaluated (Early warning page) without a new data version: re-read their
# counts at most a minute late; the KPIs stay cached by data version.
alerts = query(ov.high_alerts, scope, flt.history(), refresh=int(time.time() // 60))
policy = current_policy()  # the store's minimums and general reserve rate (Data page, Settings)
# One read of the book cube (every month, region and product) serves the KPI series and the
# movers: changing the as-of month, the regions or the products reads nothing again.
cube = query(ov.book_cube, scope, ov.cube_filters(flt.history()))
kpis = ov.with_alerts(ov.cube_kpis(cube, flt.history(), policy), alerts)
upto = kpis[kpis["as_of"] <= flt.as_of]
if upto.empty:
    st.info(t("no_data"))
    st.stop()
cur = query(ov.currency, scope)
now = upto.iloc[-1]
st.caption(f"{t('latest_month')}: {now['as_of']:%Y-%m} · {t('book_note')}")


def money(v: float) -> str:
    return fmt_money(v, cur, lg)


def both(key: str, defs: dict) -> str:
    """A definition in the current language, then the other."""
    d = defs[key]
    return f"{d['en']} {d['zh']}" if lg == "en" else f"{d['zh']} {d['en']}"


def link(page: str, text: str, tab: str | None = None) -> None:
    """A link to ``page`` (a tab of the Delinquency page with ``tab``), or the plain text
    while that page is not registered in the navigation."""
    params = {"dq_tab": cd.tab_label(tab, lg)} if tab else None
    try:
        st.page_link(page, label=text, icon=":material/arrow_forward:", query_params=params)
    except StreamlitAPIException:
        st.caption(text)


DELINQUENCY, REGIONAL, STRESS, ALERTS = "pages/delinquency.py", "pages/regional.py", "pages/stress.py", "pages/alerts.py"
min_cov, min_lpr = policy.min_coverage, policy.min_loan_provision_ratio

# --- KPI cards: value, change against last month, sparkline, link -----------------------
row1 = [
    (Card("balance", t("balance"), money, tr("Σ outstanding principal of active loans at month end.", "月末在贷贷款本金余额合计。")),
     REGIONAL, tr("By region", "分地区"), None),
    (Card("loans", t("loans"), fmt_count, tr("Number of active loans at month end.", "月末在贷贷款笔数。")),
     REGIONAL, tr("By region", "分地区"), None),
    (Card("overdue_rate_1_balance", t("dpd1"), fmt_rate, both("overdue_rate_balance", DQ_DEF) + " k = 0.",
          up_is_bad=True, delta_as_points=True), DELINQUENCY, tr("Overdue trend", "逾期趋势"), "trend"),
    (Card("overdue_rate_30_balance", t("dpd30"), fmt_rate, both("overdue_rate_balance", DQ_DEF) + " k = 30.",
          up_is_bad=True, delta_as_points=True), DELINQUENCY, tr("DPD buckets", "逾期分布"), "buckets"),
    (Card("overdue_rate_90_balance", t("dpd90"), fmt_rate, both("overdue_rate_balance", DQ_DEF) + " k = 90.",
          up_is_bad=True, delta_as_points=True), DELINQUENCY, tr("Roll rates", "迁徙率"), "roll"),
]
row2 = [
    (Card("npl_ratio", t("npl_ratio"), fmt_rate, both("npl_ratio", PV_DEF), up_is_bad=True, delta_as_points=True),
     DELINQUENCY, tr("Five-level classification", "五级分类"), "classification"),
    (Card("provisions", t("provisions"), money, both("provisions", PV_DEF), up_is_bad=True),
     DELINQUENCY, tr("Provision table", "拨备计提表"), "classification"),
    (Card("provision_coverage", tr("Coverage 拨备覆盖率", "拨备覆盖率 Coverage"), lambda v: fmt_rate(v, 1),
          both("provision_coverage", PV_DEF), delta_as_points=True),
     STRESS, tr("Under stress", "压力测试"), None),
    (Card("high_alerts", tr("Open high alerts", "高风险预警"), fmt_count,
          tr("High-level early-warning alerts of the month, as evaluated on the Early warning page for the "
             "current data; — until that page has evaluated the month.",
             "本月高级别预警笔数（预警页面按当前数据评估的结果）；该月尚未评估时显示 —。"),
          up_is_bad=True), ALERTS, tr("Alerts", "预警"), None),
]
for row in (row1, row2):
    kpi_row(upto, [card for card, *_ in row])
    for col, (card, page, text, tab) in zip(st.columns(len(row)), row, strict=True):
        with col:
            link(page, text, tab)
            if card.column == "provisions":
                lpr, gap = now["loan_provision_ratio"], now["loan_provision_gap"]
                state = tr("met", "达标") if gap <= 0 else tr(f"short {money(gap)}", f"缺口 {money(gap)}")
                st.caption(f"{tr('Loan provision ratio 拨贷比', '拨贷比')} {fmt_rate(lpr)} "
                           f"(≥ {min_lpr:.1%}, {state})", help=both("loan_provision_ratio", PV_DEF))
            elif card.column == "provision_coverage":
                gap = now["coverage_gap"]
                state = tr("minimum met", "达到监管要求") if gap <= 0 else tr(f"short {money(gap)}", f"缺口 {money(gap)}")
                st.caption(f"≥ {min_cov:.0%} ({state})", help=tr("Regulatory minimum of the provision coverage ratio.",
                                                                 "拨备覆盖率监管要求。"))

# --- trends and five-level mix ----------------------------------------------------------
window = cd.in_window(upto, flt.start, flt.end)
left, right = st.columns([3, 2])
with left:
    fig = cd.rate_trend_figure(
        window,
        {"overdue_rate_1_balance": t("dpd1"), "overdue_rate_30_balance": t("dpd30"),
         "overdue_rate_90_balance": t("dpd90"), "npl_ratio": t("npl_ratio")},
        tr("Overdue and NPL ratio, by balance", "逾期率与不良贷款率（按余额）"),
        highlight=flt.as_of,
    )
    show_chart(fig, key="ov_trend")
with right:
    show_chart(cd.class_donut(now, lg, tr(f"Five-level classification {now['as_of']:%Y-%m}",
                                          f"五级分类 {now['as_of']:%Y-%m}")), key="ov_mix")

# --- movers -----------------------------------------------------------------------------
st.subheader(tr("What moved most since last month", "环比变动最大"))
metric_names = {
    "overdue_rate_30_balance": t("dpd30"),
    "overdue_rate_90_balance": t("dpd90"),
    "overdue_rate_1_balance": t("dpd1"),
    "npl_ratio": t("npl_ratio"),
    "balance": t("balance"),
}
metric = st.selectbox(tr("Metric", "指标"), list(metric_names), format_func=metric_names.get, key="ov_mover_metric",
                      width=320)
is_rate = metric != "balance"
value_format = "%.2f%%" if is_rate else "accounting"
config = {
    "name": st.column_config.TextColumn(tr("Name", "名称")),
    "now": st.column_config.NumberColumn(f"{now['as_of']:%Y-%m}", format=value_format),
    "before": st.column_config.NumberColumn(tr("Month before", "上月"), format=value_format),
    "change": st.column_config.NumberColumn(
        tr("Change", "变动"), format="%+.2f pp" if is_rate else "%+.2f%%",
        help=tr("Rates: difference in percentage points; balance: relative change.",
                "比率：差值（百分点）；余额：环比增长率。")),
    "loans": st.column_config.NumberColumn(t("loans"), format="localized"),
}
moved = ov.cube_movers(cube, flt.history(), flt.as_of, cached_regions(data_version(), scope), policy)
for col, by, title in zip(st.columns(2), ov.MOVER_DIMENSIONS, (t("region"), t("product")), strict=True):
    with col:
        st.markdown(f"**{title}**")
        changes = moved[by]
        table = cd.movers_frame(ov.rank_movers(changes, metric, 5), by, metric, lg, {p: t(p) for p in changes.get(by, [])})
        if table.empty:
            st.caption(t("no_data"))
            continue
        table_with_downloads(table, f"movers-{by}-{metric}", f"ov_movers_{by}", column_config=config, hide_index=True)
