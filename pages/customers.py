"""Customer value (客户价值): risk-adjusted CLV per customer and value segments.

The segmentation (``data.customers.customer_segments``: CLV, features, k-means) is computed
once per data version, scope and filters (``query_resource``; also cached on disk by the
data layer) and shared, not copied. The segment explorer (scatter, picker, profile table,
the segment's customers) is a fragment: a click or a picker change reruns only it; the
customer list is a fragment inside it, so a change of order or rows reruns only the list.
Its widgets keep their state (``persist_state="session"``) while the tab is closed; those
with translated options are keyed per language (``components.lang_keys``).
"""

import streamlit as st

from analytics.clv import DEFAULT_CLV_PARAMS
from components import charts_customers as cc
from components.auth import current_user
from components.charts import show_chart
from components.downloads import table_with_downloads
from components.filters import current_filters
from components.formatting import fmt_count, fmt_money, fmt_rate
from components.i18n import lang, lang_tabs, t, tr
from components.lang_keys import lang_key
from components.query import query, query_resource
from data.config import settings
from data.customer_lists import ORDERS, masked_contacts, top_customers
from data.customers import customer_segments

_SCATTER, _PROFILES = "cust_scatter", "cust_profiles"
_LIMITS = (100, 500, 2000)

scope = current_user().scope
flt = current_filters()
L = lang()
CUR = settings().currency


def money(v: float) -> str:
    return fmt_money(v, CUR, L)


st.title(tr("Customer value", "客户价值"))
if flt.as_of is None:
    st.info(t("no_data"))
    st.stop()
st.caption(
    f"{t('latest_month')}: {flt.as_of:%Y-%m} · "
    + tr("customers with a loan in the book at month end; the global filters choose the loans",
         "月末有在贷贷款的客户；左侧筛选条件决定纳入的贷款")
)

with st.spinner(tr("Computing lifetime values and segments (the first time for a month and filters can take "
                   "half a minute on a large book)…",
                   "正在计算客户生命周期价值与客群（某月份与筛选条件下首次计算，大型贷款组合约需半分钟）…"),
                show_time=True):
    seg = query_resource(customer_segments, scope, flt.month())
if seg.customers.empty:
    st.info(t("no_data"))
    st.stop()

summary = cc.clv_summary(seg.customers)
k1, k2, k3, k4, k5 = st.columns([1, 1.4, 1.1, 1, 0.8])
k1.metric(tr("Customers", "客户数"), fmt_count(summary["customers"]), border=True,
          help=tr("Customers with at least one loan in the book at month end (in scope, under the filters).",
                  "月末至少有一笔在贷贷款的客户（权限范围内、筛选条件下）。"))
k2.metric(tr("Total CLV", "CLV合计"), money(summary["total_clv"]), border=True,
          help=tr("Σ risk-adjusted lifetime value over customers: discounted interest − funding − servicing − "
                  "expected loss over the loans' remaining terms (method below).",
                  "全部客户风险调整后生命周期价值之和：剩余期限内折现的利息 − 资金成本 − 运营成本 − 预期损失（方法见下方）。"))
k3.metric(tr("Median CLV", "CLV中位数"), money(summary["median_clv"]), border=True,
          help=tr(f"Half the customers are worth less. 10th-90th percentile: {money(summary['p10_clv'])} to "
                  f"{money(summary['p90_clv'])}.",
                  f"一半客户的CLV低于此值。第10至90百分位：{money(summary['p10_clv'])} 至 {money(summary['p90_clv'])}。"))
k4.metric(tr("Negative CLV", "CLV为负占比"), fmt_rate(summary["negative_share"], 1), border=True,
          help=tr("Customers whose expected loss and costs exceed their interest ÷ customers with a CLV.",
                  "预期损失与成本超过利息收入的客户数 ÷ 有CLV的客户数。"))
k5.metric(tr("Segments", "客群数"), f"k = {seg.k}", border=True,
          help=tr("Chosen by the best mean silhouette among k = 3…8 (see the method below).",
                  "在 k = 3…8 中按平均轮廓系数最高选取（见下方方法说明）。"))


def _pick_from_chart() -> None:
    """Scatter click / box / lasso: pick the segment of the selected points."""
    picked = cc.selected_segment(st.session_state.get(_SCATTER))
    if picked is not None:
        st.session_state[lang_key("cust_segment")] = picked


def _pick_from_table(segments: list[int]) -> None:
    """Profile table row click: pick that row's segment."""
    event = st.session_state.get(_PROFILES)
    rows = event.selection.rows if event is not None else []
    if rows and rows[0] < len(segments):
        st.session_state[lang_key("cust_segment")] = segments[rows[0]]


@st.fragment
def segment_explorer(seg) -> None:
    """Scatter with the segment picker beside it, the profile table, and the segment's customers."""
    profiles = seg.profiles
    segments = [int(s) for s in profiles["segment"]]
    names = dict(zip(segments, profiles["segment_name"]))
    actions = dict(zip(segments, profiles["action"]))
    seg_key = lang_key("cust_segment")
    if st.session_state.get(seg_key) not in segments:
        st.session_state[seg_key] = segments[0]
    left, right = st.columns([3, 1.25], gap="medium")
    with right:
        x = st.selectbox(tr("Scatter: x axis", "散点图横轴"), list(cc.SCATTER_FEATURES), key=lang_key("cust_x"),
                         format_func=lambda f, lg=L: cc.SCATTER_FEATURES[f][0 if lg == "en" else 1],
                         persist_state="session")
        chosen = st.selectbox(
            tr("Segment", "客群"), segments, key=seg_key,
            format_func=lambda s, lg=L: f"{s} · {cc.segment_label(names[s], lg)}", persist_state="session",
            help=tr("Or click a point or a diamond in the scatter, or a row of the profile table.",
                    "也可点击散点图中的点或菱形（客群中心），或点击客群画像表中的一行。"),
        )
        row = profiles[profiles["segment"] == chosen].iloc[0]
        with st.container(border=True):
            st.markdown(f"**{cc.segment_label(names[chosen], L)}**")
            st.markdown(tr("Suggested action", "建议措施") + f": **{cc.action_label(actions[chosen], L)}**")
            st.caption(
                tr("customers", "客户数") + f" {fmt_count(row['customers'])} · "
                + tr("mean CLV", "平均CLV") + f" {money(row['mean_clv'])} · "
                + tr("mean balance", "平均余额") + f" {money(row['mean_balance'])}"
            )
    with left:
        sample = cc.scatter_sample(seg.customers, n=1200)  # fewer points: quicker to draw on every rerun
        fig = cc.segment_scatter(sample, profiles, x, L, CUR, selected=chosen,
                                 title=tr("Segments: CLV against a customer feature", "客群分布：CLV 与客户特征"))
        show_chart(fig, key=_SCATTER, on_select=_pick_from_chart, selection_mode=("points", "box", "lasso"))
        if len(sample) < len(seg.customers):
            st.caption(tr(f"Drawn: a random sample of {len(sample):,} of the {len(seg.customers):,} customers, every "
                          "segment shown; a diamond marks the mean of all of a segment's customers.",
                          f"图中为 {len(seg.customers):,} 位客户中随机抽取的 {len(sample):,} 位（每个客群均有），"
                          "菱形为该客群全部客户的均值。"))

    st.subheader(tr("Segment profiles", "客群画像"))
    table_with_downloads(
        cc.profile_table(profiles, L), "segment_profiles", _PROFILES, hide_index=True,
        column_config=cc.profile_column_config(L, CUR), on_select=lambda: _pick_from_table(segments),
        selection_mode="single-row",
    )

    customer_list(seg, chosen, names[chosen], int(row["customers"]))


@st.fragment
def customer_list(seg, chosen: int, name: str, size: int) -> None:
    """The chosen segment's customers: a change of order or rows reruns only this list."""
    st.subheader(tr("Customers of the segment", "客群客户名单") + f": {cc.segment_label(name, L)}")
    c1, c2, _ = st.columns([1.4, 1, 2])
    order_labels = {  # bound now, not looked up when Streamlit formats (components.lang_keys)
        "clv_desc": tr("CLV, highest first", "CLV 由高到低"),
        "clv_asc": tr("CLV, lowest first", "CLV 由低到高"),
        "balance_desc": tr("Balance, largest first", "余额由大到小"),
        "worst_dpd_desc": tr("Worst DPD 12m, highest first", "近12月最长逾期由高到低"),
    }
    order = c1.selectbox(tr("Order", "排序"), list(ORDERS), key=lang_key("cust_order"), persist_state="session",
                         format_func=order_labels.__getitem__)
    limit = c2.selectbox(tr("Rows", "行数"), _LIMITS, index=0, key="cust_limit", format_func=lambda n: f"{n:,}",
                         persist_state="session",  # 100 by default: a longer table is slow to draw
                         help=tr("Customers listed (and downloaded), in the chosen order.", "列出（及下载）的客户数，按所选排序。"))
    rows = top_customers(seg.customers, chosen, order, limit)
    contacts = query(masked_contacts, scope, tuple(rows["customer_id"]))
    st.caption(
        tr(f"{fmt_count(len(rows))} of {fmt_count(size)} customers listed. Names and phones are masked.",
           f"共 {fmt_count(size)} 位客户，列出 {fmt_count(len(rows))} 位。姓名与电话已脱敏。")
    )
    table_with_downloads(
        cc.members_table(rows, contacts, L), f"segment_{chosen}_customers", "cust_members", hide_index=True,
        column_config=cc.members_column_config(L, CUR),
    )


tab_seg, tab_dist = lang_tabs("cust_tab", {"segments": ("Segments", "客群细分"),
                                           "distribution": ("CLV distribution", "CLV 分布")}).values()
if tab_seg.open is not False:
    with tab_seg:
        segment_explorer(seg)
if tab_dist.open:
    with tab_dist:
        show_chart(cc.clv_histogram(seg.customers, seg.profiles, L, CUR,
                                    title=tr("Customer CLV, stacked by segment", "客户CLV分布（按客群堆叠）")),
                   key="cust_hist")
        st.caption(tr(
            "Bins span the 1st to 99th percentile; customers beyond them are counted in the first or last bin. "
            "The dotted line is CLV = 0: left of it, expected loss and costs exceed interest.",
            "分组范围为第1至第99百分位，超出部分计入首末两组。虚线为 CLV = 0：其左侧客户的预期损失与成本超过利息收入。"))

method = st.expander(tr("Method: CLV definition and the choice of k", "方法：CLV 定义与 k 的选择"), icon="ℹ️",
                     key="cust_method", on_change="rerun")
if method.open:  # drawn only when opened
    with method:
        c1, c2 = st.columns([3, 2], gap="large")
        with c1:
            st.markdown(cc.clv_definition(DEFAULT_CLV_PARAMS, L, seg.pd_source))
        with c2:
            st.markdown(tr(f"**Silhouette per k** (chosen: k = {seg.k})", f"**各 k 的平均轮廓系数**（选用 k = {seg.k}）"))
            if seg.silhouette:
                show_chart(cc.silhouette_chart(seg.silhouette, seg.k, L), key="cust_silhouette")
                table_with_downloads(cc.silhouette_table(seg.silhouette, seg.k, L), "silhouette",
                                     "cust_silhouette_table", hide_index=True)
            else:
                st.caption(tr("Too few distinct customers to compare k.", "客户数过少，无法比较不同的 k。"))
