"""AppTest: the Data page. Upload, validate and load a tape as an administrator; a broken tape;
who sees the uploader; the quality summary under the filters and in a regional scope."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from app_helpers import signed_in_app, widget
from data.engine import make_engine, upgrade
from data.generate import generate_into

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


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """A small generated portfolio in an embedded store (shared by this module's tests)."""
    path = tmp_path_factory.mktemp("app") / "store.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAIHOU_SECRET_KEY", Fernet.generate_key().decode())
        eng = make_engine(f"duckdb:///{path}")
        upgrade(eng)
        generate_into(eng, 1500, 24, 7)
        eng.dispose()
    return path


@pytest.fixture
def app_env(demo_store, monkeypatch, tmp_path):
    """The shared store, read only by the test."""
    url = f"duckdb:///{demo_store}"
    monkeypatch.setenv("DAIHOU_DB_URL", url)
    monkeypatch.setenv("DAIHOU_SECRETS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("DAIHOU_SECRET_KEY", Fernet.generate_key().decode())
    return url


@pytest.fixture
def writable_env(demo_store, monkeypatch, tmp_path):
    """A copy of the store for a test that loads into it."""
    path = tmp_path / "store.duckdb"
    shutil.copy(demo_store, path)
    url = f"duckdb:///{path}"
    monkeypatch.setenv("DAIHOU_DB_URL", url)
    monkeypatch.setenv("DAIHOU_SECRETS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("DAIHOU_SECRET_KEY", Fernet.generate_key().decode())
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
