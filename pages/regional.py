"""Regional risk (区域风险): a chosen metric by province on a map, ranked beside it, and one
province's panel (trend, products, branches, worst loans) opened by a click on the map or
the province picker. A regional head sees only the provinces of their scope coloured and
can open only their own panels (the data layer enforces the scope anyway).
"""

from dataclasses import replace

import plotly.graph_objects as go
import streamlit as st
from streamlit_folium import st_folium

from components import regional_panel as rp
from components.auth import current_user
from components.charts import show_chart
from components.downloads import table_with_downloads
from components.filters import current_filters
from components.i18n import lang, lang_tabs, tr
from components.maps import choropleth
from components.policy import current_policy
from components.query import query, query_resource
from data import overview as ov
from data import regional, regional_view
from data.read import Scope

scope = current_user().scope
flt = current_filters()
L = lang()
facts = query(regional_view.store_facts, scope)
CURRENCY = facts["currency"]

st.title(tr("Regional risk 区域风险", "区域风险 Regional risk"))
head, body, bars = st.container(), st.container(), st.empty()  # filled in this order below
if not st.session_state.get("region_bars_drawn"):
    # a session's first run: an empty chart in the bars' place at once, so the browser loads the
    # chart library while the figures are read (it is replaced by the ranked bars below)
    with bars:
        show_chart(go.Figure(layout={"height": 320, "template": "none", "xaxis": {"visible": False},
                                     "yaxis": {"visible": False}}), key="region_rank_preload")

c1, c2, _ = head.columns([2, 1, 2], vertical_alignment="bottom")
metric = c1.selectbox(
    tr("Metric on the map", "地图指标"), [s.key for s in rp.METRICS], key="region_metric",
    format_func=lambda k: rp.metric_spec(k).label(L), persist_state="session",
    help=tr("Colours the map and orders the table (rank 1 = worst).", "决定地图着色与表格排序（排名1 = 最差）。"),
)
basemap = c2.toggle(tr("Basemap", "底图"), value=False, key="region_basemap", persist_state="session",
                    help=tr("A light street basemap; needs the tile server to be reachable. The regions draw without it.",
                            "浅色底图，需能访问瓦片服务器；不开底图地图照常显示。"))
spec = rp.metric_spec(metric)
policy = current_policy()  # the store's provision policy (Data page, Settings)

if spec.key == "el":
    with head, st.spinner(tr("Computing expected loss loan by loan…", "正在逐笔计算预期信用损失…"), show_time=True):
        table = query(regional_view.region_table, scope, flt.month(), expected_loss=True, policy=policy)
else:  # read for every region of the month (cached), then the chosen regions picked and ranked
    table = regional_view.in_regions(
        query(regional_view.region_table, scope, regional_view.table_filters(flt.month()), policy=policy), flt.regions)
if table.empty:
    bars.empty()
    head.info(tr("No loans for this selection.", "当前筛选条件下没有数据。"))
    st.stop()
month = table.attrs.get("as_of")
head.caption(tr(
    f"Month {month:%Y-%m} · the book = active loans at month end · rank 1 = worst by the chosen metric",
    f"数据月份 {month:%Y-%m} · 口径：月末在贷（active）贷款 · 排名1 = 所选指标最差",
))

codes = [str(c) for c in table["region_code"]]
names = rp.region_names(table, L)
if st.session_state.get("region_pick") not in codes:
    st.session_state["region_pick"] = codes[0] if len(codes) == 1 else None


def _on_map_click(allowed: frozenset[str] = frozenset(codes)) -> None:
    """A click on a province selects it in the province picker (only provinces in view)."""
    clicked = ((st.session_state.get("region_map") or {}).get("last_active_drawing") or {}).get("properties") or {}
    code = clicked.get("code")
    if code in allowed:
        st.session_state["region_pick"] = code
    elif code:
        st.toast(tr("No data for that region in your view.", "该地区不在您的查看范围或当前筛选中，无数据。"))


# Shapes of every region of the set (public geometry: nothing of the store is read when the set
# is given), so one cached copy serves every user whatever their scope.
shapes = query_resource(regional_view.map_shapes, Scope.all(), facts["region_set"])
left, right = body.columns([3, 2])
with left:
    fmap = choropleth(
        shapes.regions, rp.map_values(table, spec), value_column="value", caption=spec.label(L),
        tooltip_fields=rp.tooltip_fields(spec, L, CURRENCY), name_field="name_en" if L == "en" else "name_zh",
        boundary_lines=shapes.boundary_lines, basemap=basemap, higher_is_worse=spec.higher_is_worse,
        selected=st.session_state.get("region_pick"), colours=spec.colours, center_zero=spec.center_zero,
        legend_format=spec.fmt(L, CURRENCY), no_data_label=tr("No data / not in view", "无数据 / 不在查看范围"),
    )
    st_folium(fmap, key="region_map", height=470, use_container_width=True,
              returned_objects=["last_active_drawing"], on_change=_on_map_click)
with right:
    ranked = rp.ranked_table(table, spec, names, L, CURRENCY)
    table_with_downloads(ranked, f"regional_{spec.key}_{month:%Y%m}", "region_ranked", hide_index=True, placeholder="—",
                         column_config=rp.ranked_column_config(spec, L, CURRENCY))

# drawn on the first render too, so the chart library is loaded with the page (a province's
# panel then opens without waiting for it)
with bars:
    show_chart(rp.rank_figure(table, spec, names, L, CURRENCY), key="region_rank_chart")
st.session_state["region_bars_drawn"] = True

pick = st.selectbox(
    tr("Province (or click it on the map)", "省份（或在地图上点击）"), codes, key="region_pick",
    format_func=lambda c: names.get(c, c), placeholder=tr("Choose a province…", "选择省份…"),
    width=320,
)


def cube():
    """The book cube of the Overview (every month, region and product; kept until the next
    import): a province's trend and product mix are picked from it, so opening another
    province reads nothing."""
    return query(ov.book_cube, scope, ov.cube_filters(flt.history()))


@st.fragment
def province_panel(code: str, row: dict, rank: object) -> None:
    name = names.get(code, code)
    st.subheader(tr(f"{name} · province panel", f"{name} · 区域详情"), anchor="province-panel")
    st.caption(rp.province_summary(row, spec, rank, len(codes), L))
    for col, card in zip(st.columns(4), rp.province_cards(row, L, CURRENCY)):
        col.metric(card.label, card.value, card.delta, delta_color=card.delta_color, help=card.help, border=True)
    one = (code,)
    t_trend, t_prod, t_branch, t_loans = lang_tabs("region_panel_tab", {
        "trend": ("Trend", "走势"), "products": ("Products", "产品结构"), "branches": ("Branches", "网点"),
        "loans": ("Worst loans", "风险最高贷款"),
    }).values()
    with t_trend:
        if t_trend.open:
            kpis = ov.cube_kpis(cube(), replace(flt.trend(), regions=one), policy)
            show_chart(rp.trend_figure(kpis, name, L), key="region_trend_chart")
    with t_prod:
        if t_prod.open:
            by_product = ov.cube_kpis(cube(), replace(flt.month(), regions=one), policy, ("product",))
            show_chart(rp.product_figure(by_product, L, CURRENCY), key="region_product_chart")
            prod = rp.product_table(by_product, L, CURRENCY)
            table_with_downloads(prod, f"products_{code}_{month:%Y%m}", "region_product_table", hide_index=True, placeholder="—",
                                 column_config=rp.loan_column_config(prod, L, CURRENCY))
    with t_branch:
        if t_branch.open:
            branches = query(regional.branch_risk, scope, flt.month(), code, expected_loss=False)
            br = rp.branch_table(branches, L, CURRENCY)
            st.caption(tr("Rank 1 = highest 30+ DPD rate by balance.", "排名1 = 30+逾期率（按余额）最高。"))
            table_with_downloads(br, f"branches_{code}_{month:%Y%m}", "region_branch_table", hide_index=True, placeholder="—",
                                 column_config=rp.loan_column_config(br, L, CURRENCY))
    with t_loans:
        if t_loans.open:
            n = st.selectbox(tr("Loans shown", "显示笔数"), [20, 50, 100], key="region_worst_n", width=160)
            loans = query(regional_view.worst_loans, scope, flt.month(), code, n=n)
            st.caption(tr("Ordered by days past due, then class (损失 loss first), then balance.",
                          "按逾期天数、五级分类（损失在前）、余额从高到低排列。"))
            wl = rp.worst_loans_table(loans, L, CURRENCY)
            table_with_downloads(wl, f"worst_loans_{code}_{month:%Y%m}", "region_worst_table", hide_index=True, placeholder="—",
                                 column_config=rp.loan_column_config(wl, L, CURRENCY))


if pick is None:
    st.info(tr("Click a province on the map, or choose one above, to open its panel.",
               "在地图上点击省份，或在上方选择，查看区域详情。"))
else:
    province_panel(pick, *rp.region_row(table, spec, pick))
