"""Delinquency (逾期): overdue trends, DPD buckets, roll rates, vintage, five-level and provisions.

Thin: reads the global filters and this page's switches, calls ``data.delinquency``,
``data.classification`` and ``data.overview`` through ``query`` (cached by data version,
scope and arguments), and draws with ``components.charts_delinquency``. Tabs are lazy
(only the open one runs its reads) and each tab is a fragment, so its own switches rerun
only that tab. A click on a point, bar or heatmap cell lists the loans behind it
(downloadable); the clicked cell is kept in session state (``dq_cell_<chart>``).
"""

import datetime as dt
from dataclasses import replace

import streamlit as st

from analytics.delinquency import DEFINITIONS as DQ_DEF
from analytics.provisions import DEFINITIONS as PV_DEF
from components import charts_delinquency as cd
from components.auth import current_user
from components.charts import show_chart
from components.downloads import table_with_downloads
from components.filters import current_filters
from components.formatting import fmt_count, fmt_money, fmt_rate
from components.i18n import lang, lang_tabs, t, tr
from components.policy import current_policy
from components.query import query
from data import classification as dc
from data import delinquency as dd
from data import overview as ov
from data.reports import monthly_kpis

scope = current_user().scope
flt = current_filters()
lg = lang()

st.title(tr("Delinquency", "逾期分析"))
if flt.as_of is None:
    st.info(t("no_data"))
    st.stop()
cur = query(ov.currency, scope)
policy = current_policy()  # the store's provision minimums (Data page, Settings)


def money(v: float) -> str:
    return fmt_money(v, cur, lg)


def both(key: str, defs: dict) -> str:
    d = defs[key]
    return f"{d['en']} {d['zh']}" if lg == "en" else f"{d['zh']} {d['en']}"


def remember(chart_key: str, cell_key: str) -> None:
    """on_select callback: keep the clicked point's keys (its customdata) as the chart's cell."""
    st.session_state[cell_key] = cd.picked(st.session_state.get(chart_key))


def clickable(fig, chart_key: str, cell_key: str) -> None:
    show_chart(fig, key=chart_key, on_select=lambda: remember(chart_key, cell_key), selection_mode="points")


LOAN_COLUMNS = {
    "loan_id": st.column_config.TextColumn(tr("Loan", "贷款编号")),
    "customer_id": st.column_config.TextColumn(tr("Customer", "客户编号")),
    "region_code": st.column_config.TextColumn(t("region")),
    "branch_id": st.column_config.TextColumn(tr("Branch", "网点")),
    "product": st.column_config.TextColumn(t("product")),
    "balance": st.column_config.NumberColumn(t("balance"), format="accounting"),
    "dpd": st.column_config.NumberColumn(tr("DPD 逾期天数", "逾期天数 DPD")),
    "classification": st.column_config.TextColumn(tr("Class 五级分类", "五级分类 Class")),
    "credit_score": st.column_config.NumberColumn(tr("Score", "信用评分")),
    "dpd_next": st.column_config.NumberColumn(tr("DPD at m", "本月逾期天数")),
    "status_next": st.column_config.TextColumn(tr("Status at m", "本月状态")),
    "classification_reported": st.column_config.TextColumn(tr("Reported class", "报送分类")),
    "floor_class": st.column_config.TextColumn(tr("DPD floor class", "逾期天数对应最低分类")),
}


def drill(loans, title: str, name: str, key: str) -> None:
    """The loans behind a clicked cell, largest balance first, with CSV / Excel downloads."""
    st.markdown(f"**{title}**")
    shown = len(loans.loans)
    note = tr(f"{loans.total:,} loan{'' if loans.total == 1 else 's'}", f"共 {loans.total:,} 笔")
    if loans.total > shown:
        note += tr(f"; the {shown:,} largest by balance are listed", f"；列出余额最大的 {shown:,} 笔")
    st.caption(note)
    if shown:
        products = {p: t(p) for p in loans.loans["product"].dropna().unique()}
        table_with_downloads(cd.loan_frame(loans.loans, lg, products), name, key, column_config=LOAN_COLUMNS,
                             hide_index=True)


def hint(what: str) -> None:
    st.caption(":material/touch_app: " + what)


def month_of(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


measure = st.segmented_control(
    tr("Measure", "口径"), ["balance", "count"], default="balance", required=True, key="dq_measure",
    format_func=lambda m: cd.measure_label(m, lg),
    help=tr("Rates and shares by balance (Σ outstanding principal) or by number of loans.",
            "比率与占比按贷款余额或按贷款笔数计算。"),
)
st.caption(f"{t('latest_month')}: {flt.as_of:%Y-%m} · {tr('trend window', '趋势区间')} "
           f"{flt.start:%Y-%m} – {flt.end:%Y-%m} · {t('book_note')}")

tabs = lang_tabs("dq_tab", {k: (cd.tab_label(k, "en"), cd.tab_label(k, "zh")) for k in cd.DELINQUENCY_TABS},
                 bind="query-params")


@st.fragment
def trend_tab() -> None:
    kpis = query(monthly_kpis, scope, flt.history(), policy=policy)
    upto = kpis[kpis["as_of"] <= flt.as_of]
    threshold = st.segmented_control(
        tr("Days past due", "逾期天数"), [0, 30, 90], default=30, required=True, key="dq_threshold",
        format_func=cd.threshold_label,
    )
    col = cd.rate_column(threshold, measure)
    name = f"{cd.threshold_label(threshold)} {tr('rate', '逾期率')} ({cd.measure_label(measure, lg)})"
    if upto.empty:
        st.info(t("no_data"))
        return
    now = upto.iloc[-1]
    prev = upto.iloc[-2] if len(upto) > 1 else None
    delta = None if prev is None else f"{(now[col] - prev[col]) * 100:+.2f} pp"
    n_over, bal_over = now[f"loans_dpd_gt_{threshold}"], now[f"balance_dpd_gt_{threshold}"]
    c1, c2, c3 = st.columns(3)
    c1.metric(name, fmt_rate(now[col]), delta, delta_color="inverse", border=True,
              help=both(f"overdue_rate_{measure}", DQ_DEF) + f" k = {threshold}.")
    c2.metric(tr(f"Loans > {threshold} DPD", f"逾期超过{threshold}天笔数"), fmt_count(n_over), border=True)
    c3.metric(tr(f"Balance > {threshold} DPD", f"逾期超过{threshold}天余额"), money(bal_over), border=True)
    fig = cd.rate_trend_figure(cd.in_window(upto, flt.start, flt.end), {col: name}, highlight=flt.as_of)
    clickable(fig, "dq_trend_chart", "dq_cell_trend")
    cell = st.session_state.get("dq_cell_trend")
    if not cell:
        hint(tr("Click a month on the chart to list its overdue loans.", "点击图中某月，查看该月逾期贷款明细。"))
        return
    month = month_of(cell[0])
    loans = query(ov.overdue_loans, scope, flt.history(), month, threshold)
    drill(loans, tr(f"{month:%Y-%m}: loans > {threshold} DPD", f"{month:%Y-%m}：逾期超过{threshold}天的贷款"),
          f"overdue-{threshold}-{month:%Y-%m}", "dq_trend_loans")


@st.fragment
def buckets_tab() -> None:
    dist = query(dd.bucket_distribution, scope, flt.trend())
    if dist.empty:
        st.info(t("no_data"))
        return
    fig = cd.bucket_figure(dist, measure, lg, tr(f"Overdue buckets, share of the book ({cd.measure_label(measure, lg)})",
                                                 f"逾期分段占比（{cd.measure_label(measure, lg)}）"))
    clickable(fig, "dq_bucket_chart", "dq_cell_bucket")
    st.caption(tr("Bars stack the overdue buckets (current left out): a bar's height is the 1+ DPD rate. ",
                  "柱形叠加各逾期分段（不含未逾期），柱高即1+逾期率。") + both("dpd_bucket", DQ_DEF))
    cell = st.session_state.get("dq_cell_bucket")
    if cell:
        month, bucket = month_of(cell[0]), cell[1]
        loans = query(dd.drill_down, scope, flt.history(), dd.BucketCell(month, bucket))
        drill(loans, f"{month:%Y-%m} · {cd.bucket_label(bucket, lg)}", f"bucket-{bucket}-{month:%Y-%m}",
              "dq_bucket_loans")
    else:
        hint(tr("Click a bar segment to list the loans in that bucket and month.",
                "点击柱形中的分段，查看该月该逾期分段的贷款明细。"))
    with st.expander(tr(f"Buckets at {flt.as_of:%Y-%m} as a table", f"{flt.as_of:%Y-%m} 逾期分布表")):
        month_rows = dist[dist["as_of"] == flt.as_of]
        table = month_rows.assign(bucket=[cd.bucket_label(b, lg) for b in month_rows["bucket"]]).drop(columns="as_of")
        table_with_downloads(table, f"dpd-buckets-{flt.as_of:%Y-%m}", "dq_bucket_table", hide_index=True, column_config={
            "bucket": st.column_config.TextColumn(tr("Bucket", "逾期分段")),
            "loans": st.column_config.NumberColumn(t("loans"), format="localized"),
            "balance": st.column_config.NumberColumn(t("balance"), format="accounting"),
            "share_count": st.column_config.NumberColumn(tr("Share of loans", "笔数占比"), format="percent"),
            "share_balance": st.column_config.NumberColumn(tr("Share of balance", "余额占比"), format="percent"),
        })


@st.fragment
def roll_tab() -> None:
    matrix = query(dd.roll_matrix, scope, flt.history(), flt.as_of, measure)
    before = dd.previous_month(flt.as_of)
    title = tr(f"Roll rates {before:%Y-%m} → {flt.as_of:%Y-%m} ({cd.measure_label(measure, lg)})",
               f"迁徙率 {before:%Y-%m} → {flt.as_of:%Y-%m}（{cd.measure_label(measure, lg)}）")
    if matrix.isna().all().all():
        st.info(t("no_data"))
    else:
        roll_matrix_section(matrix, title)
    roll_trend_section()
    cure_section()


def roll_matrix_section(matrix, title: str) -> None:
    clickable(cd.roll_heatmap(matrix, lg, title), "dq_roll_chart", "dq_cell_roll")
    st.caption(both("roll_rate", DQ_DEF))
    cell = st.session_state.get("dq_cell_roll")
    if cell:
        frm, to = cell[0], cell[1]
        loans = query(dd.drill_down, scope, flt.history(), dd.RollCell(flt.as_of, frm, to))
        drill(loans, f"{cd.bucket_label(frm, lg)} → {cd.state_label(to, lg)}",
              f"roll-{frm}-{to}-{flt.as_of:%Y-%m}", "dq_roll_loans")
    else:
        hint(tr("Click a cell to list the loans that moved.", "点击矩阵单元格，查看发生该迁徙的贷款明细。"))
    with st.expander(tr("Matrix as a table", "迁徙矩阵表格")):
        table = matrix.rename(index=lambda b: cd.bucket_label(b, lg), columns=lambda s: cd.state_label(s, lg))
        table_with_downloads(table.reset_index(names=tr("Bucket at m-1", "上月逾期段")),
                             f"roll-matrix-{flt.as_of:%Y-%m}-{measure}", "dq_roll_table", hide_index=True,
                             column_config={c: st.column_config.NumberColumn(format="percent") for c in table.columns})


def roll_trend_section() -> None:
    """Roll-forward rates (current→1-30, 1-30→31-60, …) per month of the trend window; a click lists the movers."""
    st.subheader(tr("Roll-forward trend 迁徙率趋势", "迁徙率趋势 Roll-forward trend"),
                 help=tr("**Roll rate 迁徙率**: ", "**迁徙率 Roll rate**：") + both("roll_rate", DQ_DEF) + " "
                 + tr("Drawn here: each bucket to the next worse one (current → 1-30, 1-30 → 31-60, …), m = the month "
                      "on the axis.", "图中为各逾期段迁入下一更差逾期段的比率（未逾期→1-30天、1-30天→31-60天……），m 为横轴月份。"))
    trend = query(dd.roll_trend, scope, flt.trend())
    if trend.empty or trend[f"rate_{measure}"].isna().all():
        st.info(t("no_data"))
        return
    fig = cd.roll_trend_figure(trend, measure, lg, tr(f"Roll-forward rates ({cd.measure_label(measure, lg)})",
                                                       f"向后迁徙率（{cd.measure_label(measure, lg)}）"),
                               highlight=flt.as_of)
    clickable(fig, "dq_roll_trend_chart", "dq_cell_roll_trend")
    cell = st.session_state.get("dq_cell_roll_trend")
    if cell:
        month, frm, to = month_of(cell[0]), cell[1], cell[2]
        loans = query(dd.drill_down, scope, flt.history(), dd.RollCell(month, frm, to))
        drill(loans, f"{dd.previous_month(month):%Y-%m} → {month:%Y-%m} · {cd.roll_label(frm, to, lg)}",
              f"roll-{frm}-{to}-{month:%Y-%m}", "dq_roll_trend_loans")
    else:
        hint(tr("Click a point to list the loans that rolled forward that month.",
                "点击曲线上的点，查看该月迁入下一逾期段的贷款明细。"))


def cure_section() -> None:
    """Cure rate per month of the trend window, by count and by balance."""
    st.subheader(tr("Cure rate 逾期治愈率", "逾期治愈率 Cure rate"),
                 help=tr("**Cure rate 逾期治愈率**: ", "**逾期治愈率 Cure rate**：") + both("cure_rate", DQ_DEF))
    cures = query(dd.cure_rates, scope, flt.trend())
    if cures.empty or cures[list(cd.CURE_COLUMNS)].isna().all().all():
        st.info(t("no_data"))
        return
    show_chart(cd.rate_trend_figure(cures, cd.cure_names(lg), tr("Cure rate by count and by balance",
                                                                  "逾期治愈率（按笔数与按余额）"), highlight=flt.as_of),
               key="dq_cure_chart")
    with st.expander(tr("Cure rates as a table", "治愈率数据表")):
        table_with_downloads(cures, "cure-rates", "dq_cure_table", hide_index=True, column_config={
            "as_of": st.column_config.DateColumn(tr("Month m", "月份 m"), format="YYYY-MM"),
            "loans_delinquent": st.column_config.NumberColumn(tr("Overdue loans at m-1", "上月逾期笔数"), format="localized"),
            "balance_delinquent": st.column_config.NumberColumn(tr("Overdue balance at m-1", "上月逾期余额"),
                                                                format="accounting"),
            "loans_cured": st.column_config.NumberColumn(tr("Cured loans", "治愈笔数"), format="localized"),
            "balance_cured": st.column_config.NumberColumn(tr("Cured balance (at m-1)", "治愈余额（上月）"),
                                                           format="accounting"),
            "cure_rate_count": st.column_config.NumberColumn(tr("Cure rate by count", "治愈率（按笔数）"), format="percent"),
            "cure_rate_balance": st.column_config.NumberColumn(tr("Cure rate by balance", "治愈率（按余额）"),
                                                               format="percent"),
        })


VINTAGE_METRICS = {"vintage_30_balance": ("dpd_gt_30", "vintage_30_balance"),
                   "cum_default_count": ("default", "cum_default_count")}


@st.fragment
def vintage_tab() -> None:
    curves = query(dd.vintage_curves, scope, replace(flt.trend(), as_of=flt.as_of))
    options = cd.cohort_options(curves)
    if not options:
        st.info(t("no_data"))
        return
    c1, c2 = st.columns([1, 1])
    metric = c1.segmented_control(
        tr("Curve", "指标"), list(VINTAGE_METRICS), default="vintage_30_balance", required=True, key="dq_vintage_metric",
        format_func=lambda m: tr("30+ DPD by balance", "逾期30天以上（按余额）") if m == "vintage_30_balance"
        else tr("Cumulative default by count", "累计违约（按笔数）"),
        help=both("vintage_30_balance", DQ_DEF) + " / " + both("cum_default_count", DQ_DEF),
    )
    picked = st.session_state.get("dq_cohorts")
    if picked is not None:  # keep only cohorts that still exist under the current filters
        st.session_state["dq_cohorts"] = [c for c in picked if c in options]
    cohorts = c2.multiselect(
        tr("Cohorts (disbursement month)", "放款月份（批次）"), options,
        default=None if "dq_cohorts" in st.session_state else cd.default_cohorts(options, curves=curves),
        format_func=lambda d: f"{d:%Y-%m}", key="dq_cohorts", max_selections=10,
    )
    fig = cd.vintage_figure(curves, cohorts, metric, lg, tr("Vintage curves", "账龄曲线（Vintage）"))
    clickable(fig, "dq_vintage_chart", "dq_cell_vintage")
    cell = st.session_state.get("dq_cell_vintage")
    if cell:
        cohort, mob = month_of(cell[0]), int(cell[1])
        measure_key = VINTAGE_METRICS[metric][0]
        loans = query(dd.drill_down, scope, flt.history(), dd.VintageCell(cohort, mob, measure_key))
        what = tr("> 30 DPD", "逾期30天以上") if measure_key == "dpd_gt_30" else tr("defaulted", "已违约")
        drill(loans, tr(f"Cohort {cohort:%Y-%m}, MOB {mob}: {what}", f"{cohort:%Y-%m} 批次，账龄 {mob} 月：{what}"),
              f"vintage-{cohort:%Y-%m}-{mob}-{measure_key}", "dq_vintage_loans")
    else:
        hint(tr("Click a point to list the cohort's loans behind it.", "点击曲线上的点，查看该批次对应的贷款明细。"))
    with st.expander(tr("Curves as a table", "曲线数据表")):
        table_with_downloads(curves[curves["cohort"].isin(cohorts)], "vintage-curves", "dq_vintage_table", hide_index=True,
                             column_config={"vintage_30_balance": st.column_config.NumberColumn(format="percent"),
                                            "cum_default_count": st.column_config.NumberColumn(format="percent"),
                                            "principal": st.column_config.NumberColumn(format="accounting"),
                                            "balance_dpd_gt_30": st.column_config.NumberColumn(format="accounting")})


@st.fragment
def classification_tab() -> None:
    kpis = query(monthly_kpis, scope, flt.history(), policy=policy)
    window = cd.in_window(kpis[kpis["as_of"] <= flt.as_of], flt.start, flt.end)
    fig = cd.class_mix_figure(window, measure, lg, tr(f"Five-level classification ({cd.measure_label(measure, lg)})",
                                                      f"五级分类结构（{cd.measure_label(measure, lg)}）"))
    clickable(fig, "dq_class_chart", "dq_cell_class")
    st.caption(tr("Bars stack the classes worse than normal (正常 left out); by balance the NPL part "
                  "(次级 + 可疑 + 损失) is the NPL ratio.",
                  "柱形叠加正常类以外的各类（不含正常）；按余额时次级、可疑、损失之和即不良贷款率。"))
    cell = st.session_state.get("dq_cell_class")
    if cell:
        month, cls = month_of(cell[0]), cell[1]
        loans = query(ov.class_loans, scope, flt.history(), month, cls)
        drill(loans, f"{month:%Y-%m} · {cd.class_label(cls, lg)}", f"class-{cls}-{month:%Y-%m}", "dq_class_loans")
    else:
        hint(tr("Click a bar segment to list the loans in that class and month.", "点击柱形中的分类，查看该月该类贷款明细。"))

    st.subheader(tr(f"Provisions {flt.as_of:%Y-%m}", f"贷款损失准备 {flt.as_of:%Y-%m}"))
    provisions, check = ov.provisions_at(kpis, flt.as_of, policy)
    if check.empty:
        st.info(t("no_data"))
        return
    row = check.iloc[0]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(tr("Provisions 贷款损失准备", "贷款损失准备"), money(row["provisions"]), border=True,
              help=both("provisions", PV_DEF))

    def against(met: bool, minimum: str, gap: float) -> str:
        return f"≥ {minimum} · " + (tr("met", "达标") if met else tr(f"short {money(gap)}", f"缺口 {money(gap)}"))

    c2.metric(tr("Coverage 拨备覆盖率", "拨备覆盖率 Coverage"), fmt_rate(row["provision_coverage"], 1), border=True,
              delta=against(row["coverage_met"], f"{policy.min_coverage:.0%}", row["coverage_gap"]),
              delta_color="off" if row["coverage_met"] else "inverse", delta_arrow="off",
              help=both("provision_coverage", PV_DEF))
    c3.metric(tr("LPR 拨贷比", "拨贷比 LPR"), fmt_rate(row["loan_provision_ratio"]), border=True,
              delta=against(row["loan_provision_met"], f"{policy.min_loan_provision_ratio:.1%}", row["loan_provision_gap"]),
              delta_color="off" if row["loan_provision_met"] else "inverse", delta_arrow="off",
              help=both("loan_provision_ratio", PV_DEF))
    c4.metric(tr("To add", "需补提"), money(row["shortfall"]), border=True, help=both("shortfall", PV_DEF))
    table = cd.provision_frame(provisions, lg)
    table_with_downloads(table, f"provisions-{flt.as_of:%Y-%m}", "dq_provision_table", hide_index=True,
                         column_order=["label", "loans", "balance", "rate", "provision"], column_config={
                             "label": st.column_config.TextColumn(tr("Class 五级分类", "五级分类 Class")),
                             "loans": st.column_config.NumberColumn(t("loans"), format="localized"),
                             "balance": st.column_config.NumberColumn(t("balance"), format="accounting"),
                             "rate": st.column_config.NumberColumn(tr("Rate 计提比例", "计提比例 Rate"), format="percent"),
                             "provision": st.column_config.NumberColumn(tr("Provision 计提金额", "计提金额 Provision"),
                                                                        format="accounting"),
                         })

    st.subheader(tr(f"Classification exceptions {flt.as_of:%Y-%m}", f"分类偏离 {flt.as_of:%Y-%m}"),
                 help=both("exceptions", PV_DEF) + " " + both("floor_class", PV_DEF))
    exc = query(dc.exceptions, scope, flt.history(), flt.as_of)
    drill(exc, tr("Reported class better than the DPD floor", "报送分类优于逾期天数对应的最低分类"),
          f"exceptions-{flt.as_of:%Y-%m}", "dq_exceptions")


for key, body in (("trend", trend_tab), ("buckets", buckets_tab), ("roll", roll_tab), ("vintage", vintage_tab),
                  ("classification", classification_tab)):
    if tabs[key].open:
        with tabs[key]:
            body()
