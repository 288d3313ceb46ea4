"""Saved stress-test scenarios: save, list, load, delete, and compare side by side.

A scenario is stored in ``stress_scenarios`` with its name (unique, compared without
regard to case), author, comment, creation time and ``parameters``: a JSON object of the
four shocks of ``analytics.stress.Scenario`` (fractions) and a format ``version``::

    {"version": 1, "gdp_growth": -0.03, "unemployment": 0.02,
     "house_prices": -0.15, "interest_rate": 0.01}

The preset names (baseline, adverse, severely_adverse) are reserved: :func:`load_scenario`
falls back to the preset of that name, so a saved scenario may not take one. Saves and
deletes are written to the audit log (``data.users.audit``). Who may save is the page's
decision (the risk committee and administrators); this module records who did.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from analytics import stress as stress_math
from analytics.stress import PRESETS, Scenario, StressBook, StressConfig
from data.credit import stress_book
from data.read import Filters, Scope
from data.schema import StressScenario
from data.users import audit

__all__ = [
    "PARAMETERS_VERSION",
    "DuplicateScenarioError",
    "ScenarioNotFoundError",
    "save_scenario",
    "list_scenarios",
    "load_scenario",
    "delete_scenario",
    "compare_scenarios",
]

PARAMETERS_VERSION = 1
S = StressScenario.__table__


class DuplicateScenarioError(ValueError):
    """A scenario of that name (in any case) exists already, or the name is a preset's."""


class ScenarioNotFoundError(LookupError):
    """No saved scenario and no preset has that name."""


def _clean_name(name: str) -> str:
    clean = (name or "").strip()
    if not clean:
        raise ValueError("a scenario needs a name")
    if len(clean) > 128:
        raise ValueError(f"a scenario name is at most 128 characters; this one has {len(clean)}")
    return clean


def _same_name(name: str) -> sa.ColumnElement[bool]:
    return sa.func.lower(S.c.name) == name.lower()


def save_scenario(conn: sa.Connection, scenario: Scenario, *, author: str | None, comment: str | None = None) -> int:
    """Save ``scenario`` under ``scenario.name``; return its ``scenario_id``. Audited.

    Raises :class:`DuplicateScenarioError` when the name (in any case) is taken or is a
    preset's, ``ValueError`` for an empty or over-long name.
    """
    name = _clean_name(scenario.name)
    if name.lower() in PRESETS:
        raise DuplicateScenarioError(f"'{name}' is the name of a preset scenario; choose another name")
    existing = conn.execute(sa.select(S.c.name).where(_same_name(name))).scalar_one_or_none()
    if existing is not None:
        raise DuplicateScenarioError(
            f"a scenario named '{existing}' already exists; choose another name or delete it first"
        )
    params = {"version": PARAMETERS_VERSION, **scenario.shocks()}
    try:
        scenario_id = conn.execute(
            sa.insert(S)
            .values(name=name, author=author, comment=comment, parameters=json.dumps(params), created_at=dt.datetime.now())
            .returning(S.c.scenario_id)
        ).scalar_one()
    except IntegrityError as exc:  # saved by someone else in the meantime
        raise DuplicateScenarioError(f"a scenario named '{name}' already exists; choose another name") from exc
    audit(conn, author, "scenario_save", {"scenario_id": scenario_id, "name": name, "parameters": params})
    return int(scenario_id)


def _from_row(name: str, parameters: str) -> Scenario:
    return Scenario.from_dict(json.loads(parameters), name=name)


def list_scenarios(conn: sa.Connection) -> pd.DataFrame:
    """Saved scenarios, newest first: scenario_id, name, author, comment, created_at and the
    four shocks (fractions)."""
    rows = conn.execute(
        sa.select(S.c.scenario_id, S.c.name, S.c.author, S.c.comment, S.c.created_at, S.c.parameters).order_by(
            S.c.created_at.desc(), S.c.scenario_id.desc()
        )
    ).all()
    shock_cols = list(Scenario().shocks())
    records = [
        {
            "scenario_id": r.scenario_id,
            "name": r.name,
            "author": r.author,
            "comment": r.comment,
            "created_at": r.created_at,
            **_from_row(r.name, r.parameters).shocks(),
        }
        for r in rows
    ]
    return pd.DataFrame(records, columns=["scenario_id", "name", "author", "comment", "created_at", *shock_cols])


def load_scenario(conn: sa.Connection, name: str) -> Scenario:
    """The saved scenario called ``name`` (any case), else the preset of that name.

    Raises :class:`ScenarioNotFoundError` when there is neither.
    """
    clean = (name or "").strip()
    row = conn.execute(sa.select(S.c.name, S.c.parameters).where(_same_name(clean))).first()
    if row is not None:
        return _from_row(row.name, row.parameters)
    if clean.lower() in PRESETS:
        return PRESETS[clean.lower()]
    raise ScenarioNotFoundError(f"no saved or preset scenario is named '{clean}'")


def delete_scenario(conn: sa.Connection, name: str, *, username: str | None) -> bool:
    """Delete the saved scenario ``name`` (any case); True when one was deleted. Audited."""
    clean = (name or "").strip()
    row = conn.execute(sa.select(S.c.scenario_id, S.c.name).where(_same_name(clean))).first()
    if row is None:
        return False
    conn.execute(sa.delete(S).where(S.c.scenario_id == row.scenario_id))
    audit(conn, username, "scenario_delete", {"scenario_id": row.scenario_id, "name": row.name})
    return True


def compare_scenarios(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    names: Sequence[str],
    as_of: dt.date | None = None,
    config: StressConfig = stress_math.DEFAULT_STRESS,
    *,
    book: StressBook | None = None,
) -> pd.DataFrame:
    """Scenarios side by side on the book in scope: one column per scenario (saved or preset,
    in the order given), rows = the four shocks, ``z`` and the outputs of
    ``analytics.stress.OUTPUTS``. Pass ``book`` (from ``data.credit.stress_book``) to reuse
    a prepared book instead of reading it again."""
    scenarios = [load_scenario(conn, n) for n in names]
    if book is None:
        book = stress_book(conn, scope, filters, as_of, config)
    return stress_math.compare(book, scenarios)

