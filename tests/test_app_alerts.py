"""AppTest: the Early warning page (预警) on a small generated store."""

import sqlalchemy as sa

from app_helpers import metric_count, open_page, signed_in_app, widget
from data.alert_runs import marker_key
from data.engine import make_engine

PAGE = "pages/alerts.py"
LIST_KEY = "月份"  # a column of the alert list


def _open(user="manager"):
    return open_page(PAGE, user)


def _table(at, column):
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    raise AssertionError(f"no table with column {column!r}: {[list(d.value.columns) for d in at.dataframe]}")


def _stored(url, sql, **params):
    with make_engine(url).connect() as c:
        return c.execute(sa.text(sql), params).all()


def test_alerts_are_evaluated_once_and_listed_by_level(app_env):
    at = _open()
    month = widget(at.selectbox, "alerts_month").value
    assert month == widget(at.selectbox, "as_of").value  # defaults to the global as-of month
    month_end = _stored(app_env, "SELECT MAX(as_of) FROM performance")[0][0]
    stored = _stored(app_env, "SELECT COUNT(*), MIN(created_at), COUNT(DISTINCT region_code) FROM alerts "
                              "WHERE as_of = :m", m=month_end)[0]
    total, high, medium, low = (metric_count(at, p) for p in ("预警总数", "高级", "中级", "低级"))
    assert total == high + medium + low == stored[0] > 0
    listed = _table(at, LIST_KEY)
    assert 0 < len(listed) <= 500 and set(listed["月份"]) == {month}
    # a rerun and a second session do not evaluate again (same created_at, same count)
    at.run()
    signed_in_app("risk").switch_page(PAGE).run()
    again = _stored(app_env, "SELECT COUNT(*), MIN(created_at), COUNT(DISTINCT region_code) FROM alerts "
                             "WHERE as_of = :m", m=month_end)[0]
    assert again == stored
    marker = _stored(app_env, "SELECT value FROM store_settings WHERE key = :k", k=marker_key(month_end))
    assert len(marker) == 1

    # the level filter narrows the list; the cards keep every level
    widget(at.multiselect, "alerts_level.zh").set_value(["high"]).run()
    assert not at.exception, at.exception
    only_high = _table(at, LIST_KEY)
    assert set(only_high["级别"]) == {"高"} and len(only_high) == min(high, 500)
    assert metric_count(at, "预警总数") == total
    # a language switch keeps the filter (the widget is keyed per language, the value carried over)
    widget(at.button_group, "lang").set_value("en").run()
    assert widget(at.multiselect, "alerts_level.en").value == ["high"]
    assert set(_table(at, "Month")["Level"]) == {"High"}
    widget(at.button_group, "lang").set_value("zh").run()
    assert widget(at.multiselect, "alerts_level.zh").value == ["high"]
    # the rule filter narrows the cards too
    widget(at.multiselect, "alerts_level.zh").set_value([]).run()
    widget(at.multiselect, "alerts_rule.zh").set_value(["dpd_1+"]).run()
    assert set(_table(at, LIST_KEY)["规则"]) == {"逾期跨越 1+ 天"}
    assert metric_count(at, "预警总数") == metric_count(at, "低级") < total


def test_month_change_changes_the_list_and_filters_narrow(app_env):
    at = _open()
    first = _table(at, LIST_KEY)
    options = widget(at.selectbox, "alerts_month").options
    earlier = options[-4]
    widget(at.selectbox, "alerts_month").set_value(earlier).run()
    assert not at.exception, at.exception
    listed = _table(at, LIST_KEY)
    assert set(listed["月份"]) == {earlier}
    assert set(listed["贷款编号"]) != set(first["贷款编号"])
    # the global filters narrow the figures
    total = metric_count(at, "预警总数")
    widget(at.multiselect, "product").set_value(["mortgage"]).run()
    assert 0 < metric_count(at, "预警总数") < total
    widget(at.multiselect, "product").set_value([]).run()
    # and so does the page's region filter
    widget(at.multiselect, "alerts_region.zh").set_value(["440000"]).run()
    assert 0 < metric_count(at, "预警总数") < total
    assert set(_table(at, LIST_KEY)["地区"]) == {"广东"}


def test_regional_head_sees_only_guangdong(app_env):
    at = _open("guangdong")
    assert widget(at.multiselect, "alerts_region.zh").options == ["广东"]
    assert set(_table(at, LIST_KEY)["地区"]) == {"广东"}
    month_end = _stored(app_env, "SELECT MAX(as_of) FROM performance")[0][0]
    in_gd = _stored(app_env, "SELECT COUNT(*) FROM alerts WHERE as_of = :m AND region_code = '440000'", m=month_end)
    everywhere = _stored(app_env, "SELECT COUNT(*) FROM alerts WHERE as_of = :m", m=month_end)
    assert metric_count(at, "预警总数") == in_gd[0][0] < everywhere[0][0]


def test_rules_and_backtest_tabs(app_env):
    at = _open()
    at.session_state["alerts_tab"] = "预警规则"
    at.run()
    assert not at.exception, at.exception
    rules = _table(at, "触发条件")
    assert "score_drop" in set(rules["代码"]) and any("50 分" in c for c in rules["触发条件"])
    at.session_state["alerts_tab"] = "规则回测"
    at.run()
    assert not at.exception, at.exception
    bt = _table(at, "提升度")
    assert len(bt) == len(rules)
    assert bt["预警次数"].sum() > 0
    assert ((bt["12个月内逾期90天以上占比"].dropna() >= 0) & (bt["12个月内逾期90天以上占比"].dropna() <= 1)).all()
    assert bt["基准比率"].nunique() == 1
    dpd90 = bt[bt["规则"] == "逾期跨越 90+ 天"].iloc[0]
    assert dpd90["提升度"] > 1  # a loan already past 90 DPD is far more likely to be past 90 DPD later
