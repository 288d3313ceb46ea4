"""Alerts of a month, evaluated once per data version and rule set (for the Early warning page).

:func:`ensure_month_evaluated` makes sure the store's ``alerts`` table holds the month's
alerts as of the current data (the latest import batch) and rule set, and evaluates them
(``data.alerts.evaluate_alerts``) only when it does not.

* **Whole book.** A month is always evaluated for every region and without the global
  filters (``Scope.all()``, ``Filters(as_of=month)``), whoever asks: every user then reads
  the same alerts through their own scope (``data.alerts.read_alerts``), a regional head's
  visit does not leave the month half evaluated, and ``multiple_delinquent`` counts a
  customer's delinquent loans across regions. Nothing about regions outside the caller's
  scope is returned.
* **Once.** A marker row in ``store_settings`` (key ``alerts_evaluated:<YYYY-MM-DD>``,
  value JSON ``{"version", "rules", "alerts", "at"}``) records the data version and a hash
  of the rule set the month was evaluated with. A new import (new data version) or a
  changed rule file (``DAIHOU_ALERT_RULES``) makes it stale, and the next call evaluates
  again; otherwise a call costs one SELECT.
* **Concurrent sessions.** Evaluations in one process are serialised by a lock and the
  marker is checked again under it, so two sessions opening the page at once evaluate
  once; on PostgreSQL a transaction-level advisory lock does the same across processes.
  The delete, the insert and the marker are one transaction: readers in other sessions see
  the month's old alerts or the new ones, never a half-written month.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from analytics.early_warning import RuleSet
from data.alerts import alert_counts, evaluate_alerts, load_rules, read_alerts, rules_hash
from data.read import Filters, Scope, month_end
from data.schema import ImportBatch, StoreSetting

__all__ = [
    "AlertRun",
    "MonthAlerts",
    "MARKER_PREFIX",
    "marker_key",
    "rules_hash",
    "month_status",
    "ensure_month_evaluated",
    "month_alerts",
]

MARKER_PREFIX = "alerts_evaluated:"
"""Key prefix of the evaluation markers in ``store_settings``."""

_PG_LOCK_KEY = 0x4461_6948_6F75_4131  # "DaiHouA1": one advisory lock for alert evaluation
_LOCK = threading.Lock()
S = StoreSetting.__table__


@dataclass(frozen=True)
class AlertRun:
    """The state of a month's alerts after :func:`ensure_month_evaluated`.

    ``evaluated_now`` is True when this call evaluated the month; ``evaluated_at`` is when
    the stored alerts were evaluated (UTC, naive); ``data_version`` the import batch they
    reflect.
    """

    month: dt.date
    data_version: int
    evaluated_now: bool
    evaluated_at: dt.datetime | None


def marker_key(month: dt.date) -> str:
    """``alerts_evaluated:YYYY-MM-DD`` (the month's last day)."""
    return f"{MARKER_PREFIX}{month_end(month).isoformat()}"


def _data_version(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(ImportBatch.batch_id), 0))).scalar_one())


def _marker(conn: sa.Connection, month: dt.date) -> dict | None:
    raw = conn.execute(sa.select(S.c.value).where(S.c.key == marker_key(month))).scalar()
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _current(marker: dict | None, version: int, rules: RuleSet) -> bool:
    return marker is not None and marker.get("version") == version and marker.get("rules") == rules_hash(rules)


def _at(marker: dict | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(marker["at"]) if marker else None
    except (KeyError, TypeError, ValueError):
        return None


def month_status(conn: sa.Connection, month: dt.date, rules: RuleSet | None = None) -> AlertRun | None:
    """The month's :class:`AlertRun` when its stored alerts are current, else None (read only)."""
    rules = rules or load_rules()
    marker = _marker(conn, month)
    version = _data_version(conn)
    if not _current(marker, version, rules):
        return None
    return AlertRun(month_end(month), version, False, _at(marker))


def ensure_month_evaluated(
    conn: sa.Connection, scope: Scope, month: dt.date, rules: RuleSet | None = None,
    *, now: dt.datetime | None = None,
) -> AlertRun:
    """Make sure ``month``'s alerts are evaluated at the current data version and rule set.

    ``scope`` is the caller's (the signature of every data-layer call); the evaluation
    itself covers the whole book (module docstring). Pass a connection that is not inside
    a transaction of your own (as ``components.query.query`` does): the check's read
    transaction is ended, and the evaluation commits its own transaction on ``conn``.
    ``rules`` defaults to ``data.alerts.load_rules()``; ``now`` stamps the alerts and marker.
    """
    del scope  # the evaluation is the whole book's; reads are scoped by read_alerts
    m = month_end(month)
    rules = rules or load_rules()
    done = month_status(conn, m, rules)
    if done is not None:
        return done
    if conn.in_transaction():
        conn.rollback()  # end the check's read transaction; write in one of our own
    with _LOCK:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
            version = _data_version(conn)
            marker = _marker(conn, m)
            if _current(marker, version, rules):  # another session evaluated it meanwhile
                return AlertRun(m, version, False, _at(marker))
            stamp = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
            n = evaluate_alerts(conn, Scope.all(), Filters(as_of=m), rules, now=stamp)
            value = json.dumps({"version": version, "rules": rules_hash(rules), "alerts": n,
                                "at": stamp.isoformat(timespec="seconds")})
            conn.execute(sa.delete(S).where(S.c.key == marker_key(m)))
            conn.execute(sa.insert(S).values(key=marker_key(m), value=value))
    return AlertRun(m, version, True, stamp.replace(microsecond=0))


@dataclass(frozen=True)
class MonthAlerts:
    """What the Early warning page shows of one month: the evaluation, the counts and the list."""

    run: AlertRun
    counts: pd.DataFrame
    """``data.alerts.alert_counts`` of the month under the filters (every level and rule)."""
    alerts: pd.DataFrame
    """``data.alerts.read_alerts`` of the month under the filters, levels, rules and limit."""


def month_alerts(
    conn: sa.Connection, scope: Scope, filters: Filters, *, levels: Sequence[str] = (), rules: Sequence[str] = (),
    limit: int | None = None, rule_set: RuleSet | None = None,
) -> MonthAlerts:
    """The alerts of the month ``filters.as_of`` (required) in scope, evaluated first if they
    are not current (:func:`ensure_month_evaluated`), in one call (one connection).

    ``counts`` covers every level and rule under ``filters``; ``alerts`` only ``levels`` and
    ``rules`` (all when empty), at most ``limit`` rows, most severe first.
    """
    if filters.as_of is None:
        raise ValueError("month_alerts needs filters.as_of (the month)")
    run = ensure_month_evaluated(conn, scope, filters.as_of, rule_set)
    counts = alert_counts(conn, scope, filters)
    alerts = read_alerts(conn, scope, filters, levels=levels, rules=rules, limit=limit)
    return MonthAlerts(run, counts, alerts)
