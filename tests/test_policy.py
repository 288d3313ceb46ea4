"""The provision policy as a store setting (data.policy) and the KPI report that uses it.

Round trip and validation on DuckDB and PostgreSQL; the report's provisions and gaps
computed by hand for a stored policy; the command line reports against the stored one.
"""

import dataclasses
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.kpi import DEFAULT_POLICY, ProvisionPolicy
from data.bulk import insert_frame
from data.engine import make_engine, upgrade
from data.policy import get_policy, set_policy
from data.read import Filters, Scope
from data.reports import kpi_report
from data.schema import AuditLog, Loan, Performance, StoreSetting
from data.users import AppUser

ROOT = Path(__file__).resolve().parent.parent
ADMIN = AppUser("admin", "Administrator", "admin", Scope.all())
MANAGER = AppUser("manager", "Manager", "manager", Scope.all())
MAR = dt.date(2024, 3, 31)
STRICTER = ProvisionPolicy(general_rate=0.012, min_coverage=1.2, min_loan_provision_ratio=0.015)


def _audit(conn) -> list[tuple[str, str, dict]]:
    rows = conn.execute(sa.select(AuditLog.username, AuditLog.action, AuditLog.detail).order_by(AuditLog.audit_id))
    return [(u, a, json.loads(d) if d else None) for u, a, d in rows]


def _settings(conn) -> dict[str, str]:
    """The store's policy settings (other settings left out)."""
    rows = conn.execute(sa.select(StoreSetting.key, StoreSetting.value).where(StoreSetting.key.like("policy.%")))
    return dict(rows.all())


def test_defaults_until_set_then_round_trip_and_audit(engine):
    with engine.connect() as c:
        assert get_policy(c) == DEFAULT_POLICY
        assert (DEFAULT_POLICY.min_coverage, DEFAULT_POLICY.min_loan_provision_ratio, DEFAULT_POLICY.general_rate) == (
            1.5, 0.025, 0.01)  # metrics.md
    with engine.begin() as c:
        assert set_policy(c, STRICTER, ADMIN) == STRICTER
    with engine.connect() as c:
        assert get_policy(c) == STRICTER
        assert _settings(c) == {"policy.min_coverage": "1.2", "policy.min_loan_provision_ratio": "0.015",
                                "policy.general_rate": "0.012"}
        ((user, action, detail),) = _audit(c)
    assert (user, action) == ("admin", "policy_change")
    assert detail == {"before": {"min_coverage": 1.5, "min_loan_provision_ratio": 0.025, "general_rate": 0.01},
                      "after": {"min_coverage": 1.2, "min_loan_provision_ratio": 0.015, "general_rate": 0.012}}
    # a second change replaces the rows and is audited against the first
    with engine.begin() as c:
        set_policy(c, dataclasses.replace(STRICTER, min_coverage=1.35), ADMIN)
    with engine.connect() as c:
        assert get_policy(c).min_coverage == 1.35 and get_policy(c).general_rate == 0.012
        assert len(_settings(c)) == 3
        assert _audit(c)[-1][2]["before"]["min_coverage"] == 1.2


@pytest.mark.parametrize("field, value", [
    ("min_coverage", 1.19), ("min_coverage", 1.51), ("min_loan_provision_ratio", 0.014),
    ("min_loan_provision_ratio", 0.0251), ("general_rate", -0.01), ("general_rate", 1.5),
])
def test_values_outside_the_ranges_are_refused_and_nothing_is_written(engine, field, value):
    with pytest.raises(ValueError, match=field):
        ProvisionPolicy(**{field: value})
    # a policy that slipped past its constructor is checked again
    sneaky = dataclasses.replace(DEFAULT_POLICY)
    object.__setattr__(sneaky, field, value)
    with engine.begin() as c, pytest.raises(ValueError, match=field):
        set_policy(c, sneaky, ADMIN)
    with engine.connect() as c:
        assert get_policy(c) == DEFAULT_POLICY and _settings(c) == {} and _audit(c) == []


def test_only_an_administrator_may_set_it_and_specific_rates_are_not_a_setting(engine):
    with engine.begin() as c, pytest.raises(PermissionError, match="administrator"):
        set_policy(c, STRICTER, MANAGER)
    other_rates = dataclasses.replace(DEFAULT_POLICY, specific_rates=(
        ("normal", 0.0), ("special_mention", 0.03), ("substandard", 0.25), ("doubtful", 0.5), ("loss", 1.0)))
    with engine.begin() as c, pytest.raises(ValueError, match="specific"):
        set_policy(c, other_rates, ADMIN)
    with engine.connect() as c:
        assert get_policy(c) == DEFAULT_POLICY and _settings(c) == {}


def _book(engine) -> None:
    """March 2024: a normal loan of 98,000 and a substandard (次级) loan of 2,000."""
    perf = pd.DataFrame([
        dict(loan_id=lid, as_of=MAR, region_code="440000", branch_id=None, product="consumer", segment="retail",
             outstanding_principal=bal, dpd=dpd, credit_score=600, status="active", classification=cls)
        for lid, bal, dpd, cls in (("N1", 98000, 0, "normal"), ("S1", 2000, 120, "substandard"))
    ])
    loans = perf[["loan_id", "region_code", "product", "segment"]].assign(
        customer_id="C1", disbursement_date=dt.date(2023, 1, 1), maturity_date=dt.date(2026, 1, 1),
        principal=100000.0, interest_rate=0.05)
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)


def test_the_report_uses_the_stored_policy(engine):
    _book(engine)
    with engine.connect() as c:
        (m,) = (rep := kpi_report(c, Scope.all(), Filters()))["months"]
    assert rep["provision_policy"] == {"min_coverage": 1.5, "min_loan_provision_ratio": 0.025, "general_rate": 0.01}
    # defaults: 1% × 100,000 + 25% × 2,000 = 1,500; coverage 1,500 ÷ 2,000 = 75%, LPR 1.5%
    assert m["provisions"] == 1500.0 and m["provision_coverage"] == pytest.approx(0.75)
    assert m["coverage_gap"] == 1500.0  # 150% × 2,000 − 1,500
    assert m["loan_provision_gap"] == 1000.0  # 2.5% × 100,000 − 1,500
    with engine.begin() as c:
        set_policy(c, STRICTER, ADMIN)
    with engine.connect() as c:
        (m,) = (rep := kpi_report(c, Scope.all(), Filters()))["months"]
        explicit = kpi_report(c, Scope.all(), Filters(), DEFAULT_POLICY)["months"][0]
    assert rep["provision_policy"] == {"min_coverage": 1.2, "min_loan_provision_ratio": 0.015, "general_rate": 0.012}
    # 1.2% × 100,000 + 25% × 2,000 = 1,700
    assert m["provisions"] == 1700.0 and m["loan_provision_ratio"] == pytest.approx(0.017)
    assert m["coverage_gap"] == 700.0  # 120% × 2,000 − 1,700
    assert m["loan_provision_gap"] == 0.0  # 1.7% ≥ 1.5%
    assert explicit["provisions"] == 1500.0  # a policy passed in wins


def test_the_command_line_reports_against_the_stored_policy(tmp_path):
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    eng = make_engine(url)
    upgrade(eng)
    _book(eng)
    with eng.begin() as c:
        set_policy(c, STRICTER, ADMIN)
    eng.dispose()
    env = {"DAIHOU_DB_URL": url, "DAIHOU_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin",
           "DAIHOU_SECRETS_FILE": str(tmp_path / "none.toml")}

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout

    rep = json.loads(cli("report", "--json"))
    assert rep["provision_policy"]["min_coverage"] == 1.2
    assert rep["months"][0]["provisions"] == 1700.0 and rep["months"][0]["coverage_gap"] == 700.0
    assert "coverage >= 120%, loan provision ratio >= 1.5%, general reserve 1.2%" in cli("report")


def test_replacing_the_portfolio_keeps_the_policy(engine):
    """clear_portfolio (generate --replace) drops the portfolio's settings, not the bank's minimums."""
    from data.store import clear_portfolio, set_setting

    with engine.begin() as c:
        set_policy(c, STRICTER, ADMIN)
        set_setting(c, "region_set", "cn_provinces")
    with engine.begin() as c:
        clear_portfolio(c)
    with engine.connect() as c:
        assert get_policy(c) == STRICTER
        assert c.execute(sa.select(StoreSetting.value).where(StoreSetting.key == "region_set")).first() is None
