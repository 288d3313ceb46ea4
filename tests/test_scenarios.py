"""Saved scenarios: save, list, load, delete, compare, audit; on DuckDB and PostgreSQL."""

import json

import pytest
import sqlalchemy as sa

from analytics.stress import ADVERSE, OUTPUTS, Scenario
from data.read import Filters, Scope
from data.scenarios import (
    DuplicateScenarioError,
    ScenarioNotFoundError,
    compare_scenarios,
    delete_scenario,
    list_scenarios,
    load_scenario,
    save_scenario,
)
from data.schema import AuditLog, StressScenario
from test_pd_model import FEB, PD_CURRENT, _private_cache, chain_store  # noqa: F401  (shared fixtures)

MILD = Scenario("Mild recession", gdp_growth=-0.02, unemployment=0.01, house_prices=-0.05, interest_rate=0.0)


def test_save_list_load_round_trip(engine):
    with engine.begin() as c:
        sid = save_scenario(c, MILD, author="risk", comment="board request, Q3")
        save_scenario(c, Scenario("Rates shock", interest_rate=0.03), author="admin")
    with engine.connect() as c:
        assert load_scenario(c, "Mild recession") == MILD
        assert load_scenario(c, "  mild RECESSION ") == MILD  # names match without regard to case
        listed = list_scenarios(c)
        stored = json.loads(c.execute(sa.select(StressScenario.parameters).where(StressScenario.scenario_id == sid)).scalar_one())
    assert isinstance(sid, int)
    assert set(listed["name"]) == {"Mild recession", "Rates shock"}
    row = listed.set_index("name").loc["Mild recession"]
    assert (row["author"], row["comment"]) == ("risk", "board request, Q3")
    assert (row["gdp_growth"], row["unemployment"], row["house_prices"], row["interest_rate"]) == (-0.02, 0.01, -0.05, 0.0)
    assert stored == {"version": 1, "gdp_growth": -0.02, "unemployment": 0.01, "house_prices": -0.05, "interest_rate": 0.0}


def test_duplicate_name_is_rejected_clearly(engine):
    with engine.begin() as c:
        save_scenario(c, MILD, author="risk")
    with engine.begin() as c:
        with pytest.raises(DuplicateScenarioError, match="a scenario named 'Mild recession' already exists"):
            save_scenario(c, Scenario("MILD RECESSION", gdp_growth=-0.05), author="admin")
        with pytest.raises(DuplicateScenarioError, match="preset"):
            save_scenario(c, Scenario("Adverse"), author="admin")
        with pytest.raises(ValueError, match="needs a name"):
            save_scenario(c, Scenario("   "), author="admin")
    with engine.connect() as c:
        assert list_scenarios(c)["name"].tolist() == ["Mild recession"]
        assert load_scenario(c, "Mild recession").gdp_growth == -0.02  # unchanged


def test_presets_load_by_name_and_unknown_names_fail(engine):
    with engine.connect() as c:
        assert load_scenario(c, "adverse") == ADVERSE
        with pytest.raises(ScenarioNotFoundError, match="'nope'"):
            load_scenario(c, "nope")
        assert list_scenarios(c).empty


def test_delete_and_audit(engine):
    with engine.begin() as c:
        sid = save_scenario(c, MILD, author="risk")
    with engine.begin() as c:
        assert delete_scenario(c, "mild recession", username="admin") is True
        assert delete_scenario(c, "mild recession", username="admin") is False
    with engine.connect() as c:
        log = c.execute(sa.select(AuditLog.username, AuditLog.action, AuditLog.detail).order_by(AuditLog.audit_id)).all()
        assert list_scenarios(c).empty
    assert [(u, a) for u, a, _ in log] == [("risk", "scenario_save"), ("admin", "scenario_delete")]
    assert json.loads(log[0].detail)["scenario_id"] == sid and json.loads(log[0].detail)["parameters"]["gdp_growth"] == -0.02
    assert json.loads(log[1].detail) == {"scenario_id": sid, "name": "Mild recession"}


def test_compare_saved_and_preset_scenarios(chain_store):
    with chain_store.begin() as c:
        save_scenario(c, MILD, author="risk")
    with chain_store.connect() as c:
        table = compare_scenarios(c, Scope.all(), Filters(), ["baseline", "Mild recession", "severely_adverse"], as_of=FEB)
    assert table.columns.tolist() == ["baseline", "Mild recession", "severely_adverse"]
    assert table.index.tolist() == ["gdp_growth", "unemployment", "house_prices", "interest_rate", "z", *OUTPUTS]
    # MILD: z = 15 × 0.02 + 17.5 × 0.01 + ⅔ × 0.05 = 0.3 + 0.175 + 0.0333… = 0.508333…
    assert table.loc["z", "Mild recession"] == pytest.approx(0.3 + 0.175 + 0.05 * 2 / 3)
    assert table.loc["el_baseline", "baseline"] == pytest.approx(PD_CURRENT * 450 + 900 + 225, rel=1e-12)
    assert table.loc["el_stressed", "baseline"] < table.loc["el_stressed", "Mild recession"] < table.loc["el_stressed", "severely_adverse"]
    assert (table.loc["balance"] == 5500.0).all()
