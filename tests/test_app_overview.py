"""AppTest: first run on an empty store, login, and the overview's headline KPIs."""

import pytest
import sqlalchemy as sa

from data.engine import make_engine, upgrade
from data.generate import generate_into
from app_helpers import app_test, signed_in_app, widget


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """A small generated portfolio in an embedded store (shared by this module's tests)."""
    path = tmp_path_factory.mktemp("app") / "store.duckdb"
    eng = make_engine(f"duckdb:///{path}")
    upgrade(eng)
    generate_into(eng, 1500, 24, 7)
    return f"duckdb:///{path}"


@pytest.fixture
def app_env(demo_store, monkeypatch, tmp_path):
    monkeypatch.setenv("DAIHOU_DB_URL", demo_store)
    monkeypatch.setenv("DAIHOU_SECRETS_FILE", str(tmp_path / "none.toml"))
    return demo_store


def _metric(at, label_part):
    for m in at.metric:
        if label_part in m.label:
            return m
    raise AssertionError(f"no metric labelled {label_part!r}: {[m.label for m in at.metric]}")


def test_login_rejects_a_wrong_password(app_env):
    at = app_test()
    at.run()
    at.text_input[0].input("manager")
    at.text_input[1].input("nope")
    at.button[0].click()
    at.run()
    assert at.error and "Wrong user or password" in at.error[0].value
    assert not at.metric


def test_overview_shows_headline_kpis(app_env):
    at = signed_in_app("manager")
    labels = " ".join(m.label for m in at.metric)
    for part in ("贷款余额", "贷款笔数", "30+", "90+", "不良贷款率"):
        assert part in labels
    assert _metric(at, "贷款笔数").value.replace(",", "").isdigit()


def test_regional_head_sees_less_than_manager(app_env):
    boss = signed_in_app("manager")
    head = signed_in_app("guangdong")
    n_all = int(_metric(boss, "贷款笔数").value.replace(",", ""))
    n_gd = int(_metric(head, "贷款笔数").value.replace(",", ""))
    assert 0 < n_gd < n_all
    assert widget(head.multiselect, "region").options == ["广东"]


def test_filters_narrow_and_language_switch(app_env):
    at = signed_in_app("manager")
    n_all = int(_metric(at, "贷款笔数").value.replace(",", ""))
    widget(at.multiselect, "product").set_value(["mortgage"]).run()
    n_mortgage = int(_metric(at, "贷款笔数").value.replace(",", ""))
    assert 0 < n_mortgage < n_all
    widget(at.button_group, "lang").set_value("en").run()
    assert any("Loans" == m.label.split(" ")[0] for m in at.metric)


def test_first_run_generates_the_demo(monkeypatch, tmp_path):
    """An empty store is filled on first run (small portfolio to keep the test fast)."""
    import components.first_run as fr

    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    monkeypatch.setenv("DAIHOU_DB_URL", url)
    monkeypatch.setattr(fr, "DEMO_LOANS", 300)
    monkeypatch.setattr(fr, "DEMO_MONTHS", 12)
    at = app_test()
    at.run()
    assert not at.exception, at.exception
    with make_engine(url).connect() as c:
        assert c.execute(sa.text("select count(*) from loans")).scalar() == 300
