"""AppTest: the Customer value page (客户价值) on a small generated store."""

import plotly.io as pio
import pytest
import sqlalchemy as sa

from app_helpers import metric, metric_count, open_page, widget
from data.engine import make_engine

PAGE = "pages/customers.py"
pytestmark = pytest.mark.usefixtures("app_cache")  # the CLV segments are cached per store: a module-wide folder, not the repo's .cache


def _open(user="manager"):
    return open_page(PAGE, user)


def _count(at, label_part="客户数"):
    return metric_count(at, label_part)


def _table(at, column):
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    raise AssertionError(f"no table with column {column!r}")


def _figure(at, title_part):
    for chart in at.get("plotly_chart"):
        fig = pio.from_json(chart.proto.spec)
        if title_part in str(fig.layout.title.text or ""):
            return fig
    raise AssertionError(f"no chart titled {title_part!r}")


def test_page_shows_value_segments_and_masked_customers(app_env):
    at = _open()
    assert "客户价值" in at.title[0].value
    labels = " ".join(m.label for m in at.metric)
    for part in ("客户数", "CLV合计", "CLV中位数", "CLV为负占比", "客群数"):
        assert part in labels
    k = int(metric(at, "客群数").value.split("=")[1])
    profiles = _table(at, "建议措施")
    assert len(profiles) == k and 3 <= k <= 8
    assert profiles["客户数"].sum() == _count(at) == _book_customers(app_env)
    members = _table(at, "姓名（脱敏）")
    assert 0 < len(members) <= 100
    named = members["姓名（脱敏）"][members["姓名（脱敏）"] != ""]
    assert len(named) and named.str.contains(r"\*").all()  # masked, never in clear
    assert members["电话（脱敏）"].str.contains(r"\*{4}").all()
    # the scatter is drawn, and the method expander (drawn when opened) has the silhouette of every k tried
    assert _figure(at, "客群分布").data
    assert not any("轮廓系数" in list(d.value.columns) for d in at.dataframe)
    at.session_state["cust_method"] = True
    at.run()
    sil = _table(at, "轮廓系数")
    assert sil.loc[sil["选用"], "k"].tolist() == [k]
    assert any("CLV" in md.value and "轮廓系数" in md.value for md in at.markdown)


def test_widgets_change_what_is_shown(app_env):
    """One session: the segment picker, the order and row count, the x axis, the histogram tab."""
    at = _open()
    picker = widget(at.selectbox, "cust_segment.zh")
    first = _table(at, "姓名（脱敏）")
    assert first["CLV"].is_monotonic_decreasing
    other = picker.options[-1]
    picker.select_index(len(picker.options) - 1).run()
    assert not at.exception, at.exception
    after = _table(at, "姓名（脱敏）")
    assert set(first["客户编号"]).isdisjoint(after["客户编号"])  # a customer is in one segment only
    size = int(_table(at, "建议措施").iloc[-1]["客户数"])
    assert f"共 {size:,} 位客户" in " ".join(c.value for c in at.caption)
    heading = next(h.value for h in at.subheader if "客群客户名单" in h.value)
    assert other.split(" · ")[1] in heading
    # a language switch keeps the chosen segment
    widget(at.button_group, "lang").set_value("en").run()
    assert widget(at.selectbox, "cust_segment.en").value == int(other.split(" · ")[0])
    widget(at.button_group, "lang").set_value("zh").run()
    assert widget(at.selectbox, "cust_segment.zh").value == int(other.split(" · ")[0])

    widget(at.selectbox, "cust_order.zh").set_value("clv_asc").run()
    assert _table(at, "姓名（脱敏）")["CLV"].is_monotonic_increasing
    assert len(_table(at, "姓名（脱敏）")) == min(100, size)  # 100 rows by default (quick to draw)
    widget(at.selectbox, "cust_limit").set_value(500).run()
    assert len(_table(at, "姓名（脱敏）")) == min(500, size)

    assert "贷款余额" in _figure(at, "客群分布").layout.xaxis.title.text
    widget(at.selectbox, "cust_x.zh").set_value("tenure_months").run()
    assert "客户年限" in _figure(at, "客群分布").layout.xaxis.title.text

    at.session_state["cust_tab"] = "CLV 分布"
    at.run()
    assert not at.exception, at.exception
    fig = _figure(at, "客户CLV分布")
    assert sum(int(sum(trace.y)) for trace in fig.data) == _count(at)
    # back on the segments tab, the choices made there are kept
    at.session_state["cust_tab"] = "客群细分"
    at.run()
    assert widget(at.selectbox, "cust_segment.zh").format_func(widget(at.selectbox, "cust_segment.zh").value) == other
    assert widget(at.selectbox, "cust_x.zh").value == "tenure_months"
    assert widget(at.selectbox, "cust_order.zh").value == "clv_asc"


def test_global_filters_narrow_the_customers(app_env):
    at = _open()
    n_all = _count(at)
    widget(at.multiselect, "product").set_value(["mortgage"]).run()
    assert not at.exception, at.exception
    n_mortgage = _count(at)
    assert 0 < n_mortgage < n_all


def _book_customers(url, region=None):
    """Customers with an active loan at the latest stored month (optionally in one region), by SQL."""
    where = "AND p.region_code = :r" if region else ""
    with make_engine(url).connect() as c:
        return c.execute(sa.text(
            "SELECT COUNT(DISTINCT l.customer_id) FROM performance p JOIN loans l ON l.loan_id = p.loan_id "
            f"WHERE p.status = 'active' AND p.as_of = (SELECT MAX(as_of) FROM performance) {where}"
        ), {"r": region} if region else {}).scalar()


def test_regional_head_sees_only_guangdong_customers(app_env):
    at = _open("guangdong")
    n_gd = _count(at)
    assert n_gd == _book_customers(app_env, "440000") < _book_customers(app_env)
    assert widget(at.multiselect, "region").options == ["广东 Guangdong"]
    listed = _table(at, "姓名（脱敏）")["客户编号"].tolist()
    assert listed
    with make_engine(app_env).connect() as c:
        without_gd = c.execute(
            sa.text("SELECT COUNT(*) FROM (SELECT customer_id FROM loans WHERE customer_id IN :ids "
                    "GROUP BY customer_id HAVING SUM(CASE WHEN region_code = '440000' THEN 1 ELSE 0 END) = 0) x")
            .bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": listed},
        ).scalar()
    assert without_gd == 0  # every listed customer has a Guangdong loan
