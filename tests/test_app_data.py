"""AppTest: the Data page. Upload, validate and load a tape as an administrator; a broken tape;
who sees the uploader; the quality summary under the filters and in a regional scope."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa

from app_helpers import signed_in_app, widget
from data.engine import make_engine

LOANS = """\
loan_id,customer_id,region_code,product,segment,disbursement_date,maturity_date,principal,interest_rate,extra_note
UP000001,CUP0001,440000,consumer,retail,2026-09-05,2029-09-05,20000,0.09,hello
UP000002,CUP0002,广东,mortgage,retail,2026-09-20,2046-09-20,900000,0.039,
"""
PERF = """\
loan_id,as_of,outstanding_principal,dpd,credit_score,status
UP000001,2026-10-31,19500,0,680,active
UP000002,2026-10-31,899000,0,720,active
"""
BROKEN_PERF = """\
loan_id,as_of,outstanding_principal,dpd,credit_score,status
UP000001,2026-10-31,-19500,0,680,active
NOSUCHLOAN,2026-10-31,1000,0,680,active
"""


# demo_store / app_env: the shared ones of tests/conftest.py (one store per module).


@pytest.fixture
def writable_env(demo_store, monkeypatch, tmp_path):
    """A copy of the module's store for a test that loads into it (the others read the shared one)."""
    path = tmp_path / "store.duckdb"
    shutil.copy(sa.engine.make_url(demo_store).database, path)
    url = f"duckdb:///{path}"
    monkeypatch.setenv("DAIHOU_DB_URL", url)
    monkeypatch.setenv("DAIHOU_SECRETS_FILE", str(tmp_path / "none.toml"))
    return url


def _scalar(url: str, sql: str):
    eng = make_engine(url)
    try:
        with eng.connect() as c:
            return c.execute(sa.text(sql)).scalar()
    finally:
        eng.dispose()


def data_page(username: str):
    at = signed_in_app(username)
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    return at


def open_tab(at, label: str):
    """Open the page's tab ``label`` (tabs run lazily: only the open one is drawn)."""
    at.session_state["data_tab"] = label
    at.run()
    assert not at.exception, at.exception
    return at


def frame_with(at, column: str):
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    raise AssertionError(f"no table with column {column!r}: {[list(d.value.columns) for d in at.dataframe]}")


def checks_shown(at):
    for tb in at.table:
        if "定义" in tb.value.columns:
            return tb.value
    raise AssertionError("no checks table")


def upload(at, table: str, name: str, text: str):
    widget(at.file_uploader, f"upload_{table}").set_value((name, text.encode("utf-8"), "text/csv"))


def metric_value(at, label_part: str) -> str:
    for m in at.metric:
        if label_part in m.label:
            return m.value
    raise AssertionError(f"no metric {label_part!r}: {[m.label for m in at.metric]}")


def test_admin_uploads_validates_loads_and_sees_the_batch(writable_env):
    before = _scalar(writable_env, "select max(batch_id) from import_batches")
    at = data_page("admin")
    assert [t.label for t in at.tabs][:3] == ["导入数据", "导入记录", "数据质量"]
    assert widget(at.button, "validate").disabled and widget(at.button, "confirm_load").disabled
    upload(at, "loans", "loans.csv", LOANS)
    upload(at, "performance", "perf.csv", PERF)
    at.run()
    assert not at.exception, at.exception
    preview = frame_with(at, "loan_id")
    assert preview["loan_id"].tolist() == ["UP000001", "UP000002"] and preview["row"].tolist() == [2, 3]
    assert any("extra_note" in i.value for i in at.info)  # ignored column shown
    assert any("UTF-8" in c.value for c in at.caption)  # detected encoding shown
    assert widget(at.button, "confirm_load").disabled  # not validated yet

    widget(at.button, "validate").click().run()
    assert not at.exception, at.exception
    assert at.success and "校验通过" in at.success[0].value
    assert metric_value(at, "新增贷款") == "2" and metric_value(at, "月度表现行") == "2"
    assert _scalar(writable_env, "select count(*) from loans where loan_id like 'UP%'") == 0  # nothing written

    confirm = widget(at.button, "confirm_load")
    assert not confirm.disabled
    confirm.click().run()
    assert not at.exception, at.exception
    after = _scalar(writable_env, "select max(batch_id) from import_batches")
    assert after > before  # the data version moved: every cached query is recomputed
    assert _scalar(writable_env, "select count(*) from loans where loan_id like 'UP%'") == 2
    assert any(f"批次 {after}" in s.value for s in at.success)
    assert _scalar(writable_env, "select action from audit_log order by audit_id desc limit 1") == "import"

    open_tab(at, "导入记录")
    history = frame_with(at, "batch_id")
    assert history["batch_id"].iloc[0] == after and history["username"].iloc[0] == "admin"
    assert history["loans_new"].iloc[0] == 2 and "loans: loans.csv" in history["files"].iloc[0]


def test_broken_tape_shows_every_rejection_and_cannot_be_loaded(app_env):
    at = data_page("admin")
    upload(at, "loans", "loans.csv", LOANS)
    upload(at, "performance", "perf.csv", BROKEN_PERF)
    at.run()
    widget(at.button, "validate").click().run()
    assert not at.exception, at.exception
    assert at.error and "2" in at.error[0].value and "perf.csv" in at.error[0].value
    rejections = frame_with(at, "reason")
    assert sorted(rejections["column"]) == ["loan_id", "outstanding_principal"]
    assert sorted(rejections["row"].tolist()) == [2, 3]
    assert widget(at.button, "confirm_load").disabled
    widget(at.multiselect, "rejections-columns").set_value(["loan_id"]).run()
    assert frame_with(at, "reason")["column"].tolist() == ["loan_id"]
    assert _scalar(app_env, "select count(*) from loans where loan_id like 'UP%'") == 0


def test_manager_sees_no_uploader_but_history_and_quality(app_env):
    at = data_page("manager")
    assert not at.file_uploader
    assert [t.label for t in at.tabs][:2] == ["导入记录", "数据质量"]
    assert all(b.key not in ("validate", "confirm_load") for b in at.button)
    history = frame_with(at, "batch_id")
    assert len(history) >= 1 and history["loans_new"].notna().all()


def test_quality_table_switch_and_global_filters(app_env):
    at = open_tab(data_page("manager"), "数据质量")
    summary = frame_with(at, "flagged").set_index("table")
    n_loans = _scalar(app_env, "select count(*) from loans")
    assert summary.loc["loans", "rows"] == n_loans
    assert summary.loc["performance", "missing_months"] == 0
    checks = checks_shown(at)
    assert len(checks) == 5 and "客户表中无此客户" in checks.index  # the loans checks
    n_charts = len(at.get("plotly_chart"))

    widget(at.button_group, "dq_table").set_value("performance").run()
    assert not at.exception, at.exception
    checks = checks_shown(at)
    assert len(checks) == 7 and "表现月份有缺口的贷款" in checks.index and (checks["发现数"] != "—").all()
    assert len(at.get("plotly_chart")) == n_charts + 1  # rows per month appears for performance

    widget(at.multiselect, "product").set_value(["mortgage"]).run()
    narrowed = frame_with(at, "flagged").set_index("table")
    assert narrowed.loc["loans", "rows"] == _scalar(app_env, "select count(*) from loans where product = 'mortgage'")
    assert 0 < narrowed.loc["loans", "rows"] < n_loans


def test_regional_head_sees_only_guangdong(app_env):
    at = data_page("guangdong")
    assert not at.file_uploader
    history = frame_with(at, "batch_id")
    assert history["loans_new"].isna().all()  # store-wide counts are withheld
    open_tab(at, "数据质量")
    summary = frame_with(at, "flagged").set_index("table")
    gd = _scalar(app_env, "select count(*) from loans where region_code = '440000'")
    assert summary.loc["loans", "rows"] == gd
    assert summary.loc["performance", "rows"] == _scalar(
        app_env, "select count(*) from performance where region_code = '440000'"
    )
    assert widget(at.multiselect, "region").options == ["广东 Guangdong"]


def _button(at, label: str):
    for b in at.button:
        if b.label == label:
            return b
    raise AssertionError(f"no button {label!r}: {[b.label for b in at.button]}")


def test_admin_changes_the_coverage_minimum_and_the_overview_compares_against_it(writable_env):
    import json
    import math

    from analytics.kpi import DEFAULT_POLICY, ProvisionPolicy
    from data.read import Filters, Scope
    from data.reports import monthly_kpis

    eng = make_engine(writable_env)
    with eng.connect() as c:
        last = monthly_kpis(c, Scope.all(), Filters()).iloc[-1]
    eng.dispose()
    # a minimum the latest coverage meets (the demo book falls a little short of 150%)
    assert last["provision_coverage"] < DEFAULT_POLICY.min_coverage
    new_min = max(1.2, math.floor(last["provision_coverage"] * 100) / 100)
    assert last["provision_coverage"] >= new_min

    at = signed_in_app("manager")
    captions = " ".join(c.value for c in at.caption)
    assert "≥ 150% (缺口" in captions  # short of metrics.md's minimum

    at = open_tab(data_page("admin"), "设置")
    assert metric_value(at, "拨备覆盖率") == "150%"
    widget(at.number_input, "policy_min_coverage").set_value(new_min * 100)
    _button(at, "保存").click().run()
    assert not at.exception, at.exception
    assert any("已保存" in s.value for s in at.success)
    assert metric_value(at, "拨备覆盖率") == f"{new_min:.0%}"
    assert widget(at.number_input, "policy_min_coverage").value == pytest.approx(new_min * 100)
    assert _scalar(writable_env, "select value from store_settings where key = 'policy.min_coverage'") == repr(new_min)
    detail = json.loads(_scalar(writable_env, "select detail from audit_log where action = 'policy_change'"))
    assert detail["before"]["min_coverage"] == 1.5 and detail["after"]["min_coverage"] == new_min

    # the overview's coverage card now reads against the new minimum: met
    at.switch_page("pages/overview.py").run()
    assert not at.exception, at.exception
    captions = " ".join(c.value for c in at.caption)
    assert f"≥ {new_min:.0%} (达到监管要求)" in captions and "≥ 150%" not in captions
    # and the delinquency page's provisions tab too
    at.switch_page("pages/delinquency.py").run()
    at.session_state["dq_tab"] = "五级分类与拨备"
    at.run()
    coverage = [m for m in at.metric if "拨备覆盖率" in m.label][0]
    assert coverage.delta.startswith(f"≥ {new_min:.0%} · 达标")
    with make_engine(writable_env).connect() as c:
        stored = monthly_kpis(c, Scope.all(), Filters(), policy=ProvisionPolicy(min_coverage=new_min)).iloc[-1]
    assert stored["coverage_gap"] == 0

    # restoring the defaults brings the shortfall back
    at.switch_page("pages/data.py").run()
    at.session_state["data_tab"] = "设置"
    at.run()
    _button(at, "恢复默认值").click().run()
    assert metric_value(at, "拨备覆盖率") == "150%"


def test_a_non_admin_sees_the_policy_but_not_the_form(app_env):
    at = open_tab(data_page("manager"), "设置")
    assert metric_value(at, "拨备覆盖率") == "150%" and metric_value(at, "拨贷比") == "2.5%"
    assert not [n for n in at.number_input if (n.key or "").startswith("policy_")]
    assert "保存" not in [b.label for b in at.button]
    assert any("只有管理员" in c.value for c in at.caption)
