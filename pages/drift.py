"""Score drift (评分迁移): is the credit score still describing the book as it did?

Baseline month versus the as-of month (global filter): distributions on common bins, PSI
with its stability bands (trend over the trend window), band migration heatmap, KS/AUC by
month, and the loans whose score fell most. Tabs run lazily: only the open tab reads.
"""

import streamlit as st

from analytics.drift_view import drift_view, migration_view, scored_months
from components import charts_drift as cd
from components.auth import current_user
from components.charts import show_chart
from components.downloads import table_with_downloads
from components.filters import current_filters
from components.i18n import lang, lang_tabs, tr
from components.query import query
from components.regional_panel import region_names
from components.store import cached_regions, data_version
from data import scores
from data.config import settings
from data.read import month_end

scope = current_user().scope
flt = current_filters()
L = lang()
CURRENCY = settings().currency

st.title(tr("Score drift 评分迁移", "评分迁移 Score drift"))
hist = query(scores.score_histogram, scope, flt.history())
months = scored_months(hist)
if not months or flt.as_of is None:
    st.info(tr("No credit scores for this selection.", "当前筛选条件下没有信用评分数据。"))
    st.stop()
month = month_end(flt.as_of)
st.caption(tr(
    f"Comparison month {cd.month_label(month)} (the as-of month of the filters) · scored loans of the active book",
    f"对比月份 {cd.month_label(month)}（筛选栏的数据月份）· 口径：月末在贷且有评分的贷款",
))

GAPS = [1, 3, 6, 12]


def gap_label(k: int) -> str:
    return tr(f"{k} month{'s' if k > 1 else ''}", f"{k}个月")


tab_psi, tab_mig, tab_disc, tab_drop = lang_tabs("drift_tab", {
    "psi": ("Distribution & PSI", "分布与 PSI"), "migration": ("Band migration", "评分段迁移"),
    "discrimination": ("KS / AUC", "区分能力 KS/AUC"), "drops": ("Largest score drops", "评分降幅最大"),
}).values()


@st.fragment
def psi_section() -> None:
    c1, c2, _ = st.columns([2, 3, 3])
    base = c1.selectbox(
        tr("Baseline month", "基准月"), months, index=0, format_func=cd.month_label, key="drift_baseline",
        help=tr("The reference distribution; default the first month with scores.", "参照分布所在月份，默认为最早有评分的月份。"),
        persist_state="session",
    )
    bins = c2.segmented_control(
        tr("Bins", "分箱"), ["20", "deciles"], default="20", required=True, key="drift_bins", persist_state="session",
        format_func=lambda b: tr("20-point", "每20分") if b == "20" else tr("Baseline deciles (PSI)", "基准十分位（PSI）"),
        help=tr("20-point score bins show the shape; the baseline's deciles are the PSI's own bins.",
                "每20分一箱看分布形状；基准月十分位即 PSI 计算所用分箱。"),
    )
    view = drift_view(hist, base, month, start=flt.start, end=flt.end, width=20.0 if bins == "20" else None)
    p = view.point
    k = st.columns(4)
    k[0].metric(tr("PSI vs baseline", "PSI（对基准月）"), cd.fmt_num(p.get("psi")), cd.band_label(p.get("psi_band"), L),
                delta_color=cd.BAND_COLOURS.get(p.get("psi_band"), "off"), delta_arrow="off", border=True,
                help=tr(*cd.PSI_HELP))
    k[1].metric(tr("PSI month on month", "PSI（环比）"), cd.fmt_num(p.get("psi_mom")), cd.band_label(p.get("psi_mom_band"), L),
                delta_color=cd.BAND_COLOURS.get(p.get("psi_mom_band"), "off"), delta_arrow="off", border=True,
                help=tr("PSI of the month against the previous month, on the previous month's deciles.",
                        "当月相对上月的 PSI，分箱为上月评分的十分位。"))
    k[2].metric(tr("Scored loans (month)", "当月有评分笔数"), f"{p.get('loans', 0):,}", border=True,
                help=tr("Active loans with a credit score at the comparison month.", "对比月份月末在贷且有评分的贷款笔数。"))
    k[3].metric(tr("Scored loans (baseline)", "基准月有评分笔数"), f"{p.get('baseline_loans', 0):,}", border=True,
                help=tr("Active loans with a credit score at the baseline month.", "基准月月末在贷且有评分的贷款笔数。"))
    left, right = st.columns(2)
    with left:
        show_chart(cd.distribution_figure(view.distribution, view.baseline, view.month, L), key="drift_dist_chart")
    with right:
        show_chart(cd.psi_trend_figure(view.trend, view.month, L), key="drift_psi_chart")
    with st.expander(tr("PSI bin by bin, and the PSI trend table", "PSI 分箱明细与走势表")):
        contrib = cd.contributions_table(view.contributions, L)
        table_with_downloads(contrib, "psi_bins", "drift_bins_table", hide_index=True, placeholder="—",
                             column_config=cd.column_config(contrib, L, CURRENCY))
        trend = cd.trend_table(view.trend, L)
        table_with_downloads(trend, "psi_trend", "drift_trend_table", hide_index=True, placeholder="—",
                             column_config=cd.column_config(trend, L, CURRENCY))


@st.fragment
def migration_section() -> None:
    gap = st.segmented_control(
        tr("Migration over", "迁移区间"), GAPS, default=3, required=True, format_func=gap_label, key="drift_mig_gap",
        persist_state="session", help=tr("Loans of the book then, by score band, and where they are at the comparison month.",
                                         "期初在贷且有评分的贷款按评分段分组，看其在对比月份所处评分段或去向。"),
    )
    start = scores.shift_month(month, -gap)
    pairs = query(scores.migration_pairs, scope, flt.history(), start, month)
    shares, counts, summary = migration_view(pairs)
    if summary["loans"] == 0:
        st.info(tr(f"No scored loans at {cd.month_label(start)}.", f"{cd.month_label(start)} 没有有评分的贷款。"))
        return
    k = st.columns(4)
    for col, key, en, zh, colour in ((k[0], "down", "Moved to a lower band", "下迁（评分段降低）", "inverse"),
                                     (k[1], "same", "Same band", "评分段不变", "off"),
                                     (k[2], "up", "Moved to a higher band", "上迁（评分段升高）", "normal"),
                                     (k[3], "exit", "Left the scored book", "退出（结清/核销等）", "off")):
        col.metric(tr(en, zh), f"{summary[key]:.1%}", border=True,
                   help=tr(f"Share of the {summary['loans']:,} scored loans of {cd.month_label(start)}.",
                           f"占 {cd.month_label(start)} 有评分贷款 {summary['loans']:,} 笔的比例。"))
    show_chart(cd.migration_figure(shares, counts, start, month, L), key="drift_mig_chart")
    with st.expander(tr("Migration table", "迁移矩阵表")):
        table = cd.migration_table(shares, counts, L)
        table_with_downloads(table, "score_migration", "drift_mig_table", hide_index=True, placeholder="—",
                             column_config=cd.column_config(table, L, CURRENCY))


@st.fragment
def discrimination_section() -> None:
    partial = st.toggle(
        tr("Include months with a shorter outcome window", "包含观察期不足12个月的月份"), key="drift_partial",
        persist_state="session", help=tr("A loan is bad when it is more than 90 days past due within the next 12 months; recent "
                                         "months have not had 12 months yet (hollow markers).",
                                         "坏样本：随后12个月内逾期超过90天。最近的月份观察期不足12个月（空心点）。"),
    )
    disc = query(scores.discrimination_trend, scope, flt.trend(), partial=partial)
    if disc.empty:
        st.info(tr("No month of the trend window has a 12-month outcome yet: include the shorter windows, or widen the "
                   "trend window.", "趋势区间内没有满12个月观察期的月份：可勾选包含观察期不足的月份，或放宽趋势区间。"))
        return
    last = disc.iloc[-1]
    k = st.columns(3)
    k[0].metric("KS", cd.fmt_num(last["ks"]), border=True, help=tr(
        f"At {cd.month_label(last['as_of'])}: the largest gap between the score distributions of bad and good loans.",
        f"{cd.month_label(last['as_of'])}：坏样本与好样本评分累计分布之差的最大值。"))
    k[1].metric("AUC", cd.fmt_num(last["auc"]), border=True, help=tr(
        f"At {cd.month_label(last['as_of'])}: the probability that a bad loan scores below a good one.",
        f"{cd.month_label(last['as_of'])}：坏样本评分低于好样本的概率。"))
    k[2].metric(tr("Bad rate", "坏账率"), f"{last['bad_rate']:.2%}", border=True, help=tr(
        "Share of the month's scored loans (dpd ≤ 90) more than 90 days past due within the next 12 months.",
        "当月有评分且逾期≤90天的贷款中，随后12个月内逾期超过90天的占比。"))
    show_chart(cd.discrimination_figure(disc, L), key="drift_disc_chart")
    with st.expander(tr("KS / AUC table", "KS / AUC 明细表")):
        table = cd.discrimination_table(disc, L)
        table_with_downloads(table, "ks_auc", "drift_disc_table", hide_index=True, placeholder="—",
                             column_config=cd.column_config(table, L, CURRENCY))


@st.fragment
def drops_section() -> None:
    c1, c2, _ = st.columns([3, 1, 1])
    gap = c1.segmented_control(tr("Score change over", "评分变化区间"), GAPS, default=3, required=True, format_func=gap_label,
                               key="drift_drop_gap", persist_state="session")
    n = c2.selectbox(tr("Loans shown", "显示笔数"), [20, 50, 100], key="drift_drop_n", persist_state="session")
    start = scores.shift_month(month, -gap)
    drops = query(scores.largest_score_drops, scope, flt.history(), month, start, n=n)
    st.caption(tr(f"Loans of the book at {cd.month_label(start)} and {cd.month_label(month)} with a score both times, "
                  "largest fall first.",
                  f"{cd.month_label(start)} 与 {cd.month_label(month)} 均在贷且均有评分的贷款，按评分降幅从大到小排列。"))
    names = region_names(cached_regions(data_version(), scope), L)
    table = cd.drops_table(drops, names, L, CURRENCY)
    table_with_downloads(table, "score_drops", "drift_drops_table", hide_index=True, placeholder="—",
                         column_config=cd.column_config(table, L, CURRENCY))


with tab_psi:
    if tab_psi.open:
        psi_section()
with tab_mig:
    if tab_mig.open:
        migration_section()
with tab_disc:
    if tab_disc.open:
        discrimination_section()
with tab_drop:
    if tab_drop.open:
        drops_section()
