"""AppTest: the Score drift page (评分迁移) on a small generated store.

Renders each tab without exception, its widgets change what it shows (the baseline changes
the PSI; the migration window changes the migration), the global filters narrow the
figures, and a regional head sees only Guangdong.
"""

import pytest

from app_helpers import metric, metric_count, open_page, widget

TABS = {"psi": "分布与 PSI", "migration": "评分段迁移", "disc": "区分能力 KS/AUC", "drops": "评分降幅最大"}


def _open(username: str = "manager", tab: str = "psi"):
    at = open_page("pages/drift.py", username)
    if tab != "psi":
        at.session_state["drift_tab"] = TABS[tab]
        at.run()
        assert not at.exception, at.exception
    return at


def _count(at, label_part: str) -> int:
    return metric_count(at, label_part)


def _table(at, column: str):
    """The first table on the page with this column."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a column {column!r}: {[list(d.value.columns) for d in at.dataframe]}")


def test_psi_tab_renders_and_the_baseline_changes_the_psi(app_env):
    at = _open()
    assert at.title[0].value.startswith("评分迁移")
    assert len(at.get("plotly_chart")) == 2  # distribution and PSI trend
    psi_first = metric(at, "PSI（对基准月）").value
    assert float(psi_first) >= 0
    baseline = widget(at.selectbox, "drift_baseline")
    assert len(baseline.options) == 24
    baseline.select_index(len(baseline.options) - 1).run()  # the latest month, the comparison month
    assert not at.exception, at.exception
    # the comparison month (the latest) is now its own baseline: PSI 0
    assert float(metric(at, "PSI（对基准月）").value) == 0.0
    assert float(psi_first) > 0.0


def test_bins_switch_changes_the_distribution(app_env):
    at = _open()
    before = at.get("plotly_chart")[0].proto.spec
    widget(at.button_group, "drift_bins").set_value("deciles").run()
    assert not at.exception, at.exception
    assert at.get("plotly_chart")[0].proto.spec != before


def test_filters_narrow_and_the_regional_head_sees_guangdong_only(app_env):
    at = _open()
    n_all = _count(at, "当月有评分笔数")
    widget(at.multiselect, "product").set_value(["mortgage"]).run()
    assert not at.exception, at.exception
    n_mortgage = _count(at, "当月有评分笔数")
    assert 0 < n_mortgage < n_all
    head = _open("guangdong", "drops")
    assert 0 < _count(_open("guangdong"), "当月有评分笔数") < n_all
    drops = _table(head, "期初评分")
    assert len(drops) > 0 and set(drops["地区"]) == {"广东"}


def test_migration_tab_and_its_window(app_env):
    at = _open(tab="migration")
    assert len(at.get("plotly_chart")) == 1
    down3 = metric(at, "下迁").value
    widget(at.button_group, "drift_mig_gap").set_value(12).run()
    assert not at.exception, at.exception
    assert metric(at, "下迁").value != down3


def test_discrimination_tab_and_partial_windows(app_env):
    at = _open(tab="disc")
    ks = metric(at, "KS").value
    assert 0 < float(ks) <= 1
    widget(at.toggle, "drift_partial").set_value(True).run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1
